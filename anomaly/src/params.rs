//! Named numeric detector parameters as they come from the configuration, and a reader that
//! applies defaults in code and rejects unknown or out-of-range values.

use std::collections::BTreeMap;

use crate::error::AnomalyError;

/// Detector parameters by name, e.g. `{"alpha": 0.01}`. Missing names take the detector's default.
pub type Params = BTreeMap<String, f64>;

/// Reads a detector's parameters, checking that every given name is one the detector takes.
#[derive(Debug)]
pub(crate) struct ParamReader<'a> {
    detector: &'static str,
    params: &'a Params,
    known: Vec<&'static str>,
}

impl<'a> ParamReader<'a> {
    pub(crate) fn new(detector: &'static str, params: &'a Params) -> Self {
        Self {
            detector,
            params,
            known: Vec::new(),
        }
    }

    /// The value of `name`, or `default`, which must lie in `[min, max]`.
    pub(crate) fn get(
        &mut self,
        name: &'static str,
        default: f64,
        min: f64,
        max: f64,
    ) -> Result<f64, AnomalyError> {
        self.known.push(name);
        let value = self.params.get(name).copied().unwrap_or(default);
        if !value.is_finite() || value < min || value > max {
            return Err(AnomalyError::InvalidParam {
                detector: self.detector,
                param: name,
                value,
                reason: "outside the allowed range",
            });
        }
        Ok(value)
    }

    /// Like [`Self::get`] for a whole count of samples.
    pub(crate) fn count(
        &mut self,
        name: &'static str,
        default: usize,
        min: usize,
        max: usize,
    ) -> Result<usize, AnomalyError> {
        let value = self.get(name, default as f64, min as f64, max as f64)?;
        if value.fract() != 0.0 {
            return Err(AnomalyError::InvalidParam {
                detector: self.detector,
                param: name,
                value,
                reason: "must be a whole number",
            });
        }
        Ok(value as usize)
    }

    /// Fails on any given parameter that no `get` asked for.
    pub(crate) fn finish(self) -> Result<(), AnomalyError> {
        match self
            .params
            .keys()
            .find(|key| !self.known.contains(&key.as_str()))
        {
            Some(unknown) => Err(AnomalyError::UnknownParam {
                detector: self.detector,
                param: unknown.clone(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_ranges_and_unknown_names() {
        let mut params = Params::new();
        let mut reader = ParamReader::new("ewma", &params);
        assert_eq!(reader.get("alpha", 0.1, 0.0, 1.0).unwrap(), 0.1);
        reader.finish().unwrap();

        params.insert("alpha".into(), 2.0);
        let mut reader = ParamReader::new("ewma", &params);
        assert!(matches!(
            reader.get("alpha", 0.1, 0.0, 1.0),
            Err(AnomalyError::InvalidParam { .. })
        ));

        params.insert("alpha".into(), 0.5);
        params.insert("beta".into(), 0.5);
        let mut reader = ParamReader::new("ewma", &params);
        reader.get("alpha", 0.1, 0.0, 1.0).unwrap();
        assert!(matches!(
            reader.finish(),
            Err(AnomalyError::UnknownParam { .. })
        ));
    }
}
