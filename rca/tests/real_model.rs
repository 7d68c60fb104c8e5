//! End-to-end against a real local model (SmolLM2-135M served by `scripts/llm-serve`): judges
//! the plumbing and the grounding, not the model's wisdom. Skips, printing why, when node, the
//! server's packages or the model file are absent (`scripts/llm-serve/setup.sh` fetches them).
//!
//! `SREBOT_LLM_URL` (+ `SREBOT_LLM_BACKEND=ollama|openai`) points the test at a running server
//! instead; `SREBOT_LLM_GGUF` names the model file.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rca::{Backend, Draft, Drafter, FunctionSpec, Interpreter, LlmClient, LlmConfig};

use crate::fixtures;

/// Kills the server it started when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/llm-serve")
}

fn find_model(dir: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::env::var("SREBOT_LLM_GGUF") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    std::fs::read_dir(dir.join("models"))
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "gguf"))
}

/// Starts the server, or says why it cannot.
fn start() -> Result<(Server, String), String> {
    let dir = serve_dir();
    Command::new("node")
        .arg("--version")
        .output()
        .map_err(|e| format!("node is not available ({e})"))?;
    if !dir.join("node_modules/node-llama-cpp").is_dir() {
        return Err(format!(
            "node-llama-cpp is not installed in {} (run setup.sh)",
            dir.display()
        ));
    }
    let model = find_model(&dir).ok_or("no GGUF model found (run scripts/llm-serve/setup.sh)")?;
    let mut child = Command::new("node")
        .current_dir(&dir)
        .args(["serve.mjs", "--port", "0", "--threads", "1", "--model"])
        .arg(&model)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("node could not start serve.mjs ({e})"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let server = Server(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening ") {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(180))
        .map_err(|_| "the model server did not come up within 180 s".to_owned())?;
    Ok((server, url))
}

fn assert_grounded(draft: &Draft, i: &rca::Interpretation) {
    let actions = draft.action_names();
    for c in &i.claims {
        assert!(!c.evidence.is_empty());
        for id in &c.evidence {
            assert!(draft.has_evidence(id), "claim cites unknown {id}");
        }
    }
    for a in &i.actions {
        assert!(actions.contains(a), "action {a} outside the draft");
    }
}

#[test]
fn real_local_model_interprets_within_the_grounding_rules() {
    let (server, url, backends) = match std::env::var("SREBOT_LLM_URL") {
        Ok(url) => {
            let backend = match std::env::var("SREBOT_LLM_BACKEND").as_deref() {
                Ok("openai") => Backend::Openai,
                _ => Backend::Ollama,
            };
            (None, url, vec![backend])
        }
        Err(_) => match start() {
            Ok((server, url)) => (Some(server), url, vec![Backend::Ollama, Backend::Openai]),
            Err(reason) => {
                println!("skipped real_local_model test: {reason}");
                return;
            }
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let draft = Drafter::default().draft(&fixtures::input());
    for backend in backends {
        let config = LlmConfig {
            backend,
            url: url.clone(),
            model: "smollm2-135m".into(),
            timeout_ms: 300_000,
            max_retries: 0,
            max_tokens: 900,
            ..LlmConfig::default()
        };
        let interpreter = Interpreter::new(config).unwrap();
        let started = Instant::now();
        let report = runtime.block_on(interpreter.report(draft.clone()));
        let elapsed = started.elapsed();
        assert_eq!(report.draft, draft, "the draft is never altered");
        match (&report.interpretation, &report.fallback) {
            (Some(i), None) => {
                assert_grounded(&draft, i);
                assert_eq!(i.attempts, 1);
                assert!(i.redactions >= 2);
                assert!(!i.model.is_empty());
                println!(
                    "{backend:?}: {} ms, {} claims kept, dropped uncited {} unknown {} actions {} commands {}; summary: {}",
                    i.latency_ms,
                    i.claims.len(),
                    i.dropped_uncited,
                    i.dropped_unknown_evidence,
                    i.dropped_actions,
                    i.dropped_commands,
                    i.summary
                );
            }
            (None, Some(f)) => panic!(
                "{backend:?}: schema-constrained answer unusable after {elapsed:?}: {}",
                f.reason
            ),
            other => panic!("inconsistent report {other:?}"),
        }
    }
    drop(server);
}

/// Plumbing of investigation mode through the local model server: the `tools` offered, the
/// model's pick coming back as `tool_calls` (OpenAI: arguments as JSON text; Ollama: an
/// object), a `role: tool` result sent back, and the next turn. It covers the wire formats
/// and `scripts/llm-serve`'s pass-through, not whether the tiny model picks wisely (the
/// scripted stand-in in the server's tests judges the loop's behaviour).
#[test]
fn real_local_model_passes_tool_calls_through() {
    let (server, url, backends) = match std::env::var("SREBOT_LLM_URL") {
        Ok(url) => {
            let backend = match std::env::var("SREBOT_LLM_BACKEND").as_deref() {
                Ok("openai") => Backend::Openai,
                _ => Backend::Ollama,
            };
            (None, url, vec![backend])
        }
        Err(_) => match start() {
            Ok((server, url)) => (Some(server), url, vec![Backend::Ollama, Backend::Openai]),
            Err(reason) => {
                println!("SKIPPED: real_local_model tool plumbing: {reason}");
                return;
            }
        },
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tools = [FunctionSpec {
        name: "nodes_list".to_owned(),
        description: "Nodes with readiness and pressure conditions.".to_owned(),
        parameters: serde_json::json!({"type": "object", "properties": {
            "node": {"type": "string", "description": "node name"}}, "additionalProperties": false}),
    }];
    for backend in backends {
        let client = LlmClient::new(LlmConfig {
            backend,
            url: url.clone(),
            model: "smollm2-135m".into(),
            timeout_ms: 300_000,
            max_retries: 0,
            max_tokens: 200,
            ..LlmConfig::default()
        })
        .unwrap();
        let mut messages = vec![
            serde_json::json!({"role": "system", "content": "You investigate a Kubernetes incident with tools."}),
            serde_json::json!({"role": "user", "content": "Node worker-2 reports DiskPressure. Check the nodes."}),
        ];
        let first = runtime
            .block_on(client.tool_turn(&messages, &tools))
            .unwrap();
        // Either it calls the one offered tool, or it answers: nothing else gets through.
        assert!(
            first.calls.iter().all(|c| c.name == "nodes_list"),
            "{first:?}"
        );
        assert!(
            !first.calls.is_empty() || first.content.is_some(),
            "{first:?}"
        );
        println!("{backend:?}: first turn {:?}", first.calls);
        if let Some(call) = first.calls.first() {
            assert!(call.arguments.is_object(), "{call:?}");
            messages.push(first.assistant.clone());
            messages.push(rca::tool_message(
                backend,
                call,
                r#"{"evidence_id":"tool-0123456789abcdef","summary":"1 nodes, 0 not ready; under pressure: worker-2 (DiskPressure)"}"#,
            ));
            let second = runtime
                .block_on(client.tool_turn(&messages, &tools))
                .unwrap();
            assert!(
                second.calls.iter().all(|c| c.name == "nodes_list"),
                "{second:?}"
            );
            println!(
                "{backend:?}: second turn {:?} {:?}",
                second.calls, second.content
            );
        }
    }
    drop(server);
}
