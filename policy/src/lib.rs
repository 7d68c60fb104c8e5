//! The deterministic control plane: which typed action may run, when, and who said so.
//! No model output reaches the executor without a policy decision record.
