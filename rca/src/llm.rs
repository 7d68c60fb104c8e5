//! Chat clients for a language model: Ollama's `POST /api/chat` and the OpenAI-compatible
//! `POST /v1/chat/completions`, non-streaming, with a JSON-schema constrained answer.
//!
//! Each attempt has a timeout; timeouts, connection failures, 429 and 5xx are retried a bounded
//! number of times with exponential backoff; everything else fails at once with a typed error.

use std::time::{Duration, Instant};

use model::{Classify, ErrorClass};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Which wire format the model server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// `POST {url}/api/chat`.
    Ollama,
    /// `POST {url}/v1/chat/completions`.
    Openai,
}

/// How an OpenAI-compatible server is asked for JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonMode {
    /// `response_format: {type: json_schema, json_schema: {...}}`.
    JsonSchema,
    /// `response_format: {type: json_object}` (servers without schema support).
    JsonObject,
}

/// Model endpoint settings.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LlmConfig {
    /// Wire format of the server.
    pub backend: Backend,
    /// Base URL, e.g. `http://127.0.0.1:11434` (no trailing path).
    pub url: String,
    /// Model name, e.g. `llama3.2:3b`.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set.
    pub api_key: Option<String>,
    /// Timeout of one attempt, connect to last byte.
    pub timeout_ms: u64,
    /// Retries after the first attempt (timeouts, connection errors, 429, 5xx).
    pub max_retries: u32,
    /// First backoff; doubles per retry.
    pub backoff_ms: u64,
    /// Backoff ceiling (also caps a server's Retry-After).
    pub max_backoff_ms: u64,
    /// Sampling temperature (0 = most deterministic).
    pub temperature: f64,
    /// Most tokens generated.
    pub max_tokens: u32,
    /// JSON mode for OpenAI-compatible servers.
    pub json_mode: JsonMode,
    /// CA file and client certificate for https (`ca_file`, `cert_file`, `key_file`).
    pub tls_config: outbound::TlsConfig,
    /// Investigation mode: read-only tool calls the model may make before it interprets a
    /// draft (0 turns investigation off).
    pub max_tool_calls: u32,
    /// Investigation mode: wall time the whole tool loop may take, e.g. `90s`; what was
    /// gathered by then is interpreted.
    #[serde(with = "model::duration::text")]
    pub investigation_timeout: std::time::Duration,
    /// Investigation mode: the read-only tools the model may call, by catalogue name
    /// (`logs.recent`, ...); empty allows every read-only tool.
    pub tools: Vec<String>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Ollama,
            url: "http://127.0.0.1:11434".to_owned(),
            model: "llama3.2:3b".to_owned(),
            api_key: None,
            timeout_ms: 60_000,
            max_retries: 2,
            backoff_ms: 250,
            max_backoff_ms: 5_000,
            temperature: 0.0,
            max_tokens: 600,
            json_mode: JsonMode::JsonSchema,
            tls_config: outbound::TlsConfig::default(),
            max_tool_calls: 6,
            investigation_timeout: std::time::Duration::from_secs(90),
            tools: Vec::new(),
        }
    }
}

impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("backend", &self.backend)
            .field("url", &self.url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("timeout_ms", &self.timeout_ms)
            .field("max_retries", &self.max_retries)
            .field("backoff_ms", &self.backoff_ms)
            .field("max_backoff_ms", &self.max_backoff_ms)
            .field("temperature", &self.temperature)
            .field("max_tokens", &self.max_tokens)
            .field("json_mode", &self.json_mode)
            .field("tls_config", &self.tls_config)
            .field("max_tool_calls", &self.max_tool_calls)
            .field("investigation_timeout", &self.investigation_timeout)
            .field("tools", &self.tools)
            .finish()
    }
}

/// The JSON schema subset answers are constrained with; serialises with properties in the
/// given order (grammar-constrained models generate fields in schema order).
#[derive(Debug, Clone, PartialEq)]
pub enum JsonSchema {
    Object {
        properties: Vec<(String, JsonSchema)>,
    },
    Array {
        items: Box<JsonSchema>,
        max_items: Option<usize>,
    },
    /// A string, limited to `one_of` when that is not empty.
    String { one_of: Vec<String> },
}

impl JsonSchema {
    /// As a `serde_json::Value` (object keys then sort by name).
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

impl Serialize for JsonSchema {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Props<'a>(&'a [(String, JsonSchema)]);
        impl Serialize for Props<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(None)?;
        match self {
            JsonSchema::Object { properties } => {
                map.serialize_entry("type", "object")?;
                map.serialize_entry("properties", &Props(properties))?;
                let required: Vec<&str> = properties.iter().map(|(k, _)| k.as_str()).collect();
                map.serialize_entry("required", &required)?;
                map.serialize_entry("additionalProperties", &false)?;
            }
            JsonSchema::Array { items, max_items } => {
                map.serialize_entry("type", "array")?;
                map.serialize_entry("items", items)?;
                if let Some(n) = max_items {
                    map.serialize_entry("maxItems", n)?;
                }
            }
            JsonSchema::String { one_of } => {
                map.serialize_entry("type", "string")?;
                if !one_of.is_empty() {
                    map.serialize_entry("enum", one_of)?;
                }
            }
        }
        map.end()
    }
}

/// Speaker of a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }
}

/// Most tool calls read from one model turn (the rest are ignored).
const MAX_CALLS_PER_TURN: usize = 8;

/// A function offered to the model: its name (no dots), what it does, its JSON-schema'd
/// parameters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// A function call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCall {
    /// The call's id, echoed in its result message.
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

/// One turn of a function-calling conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolTurn {
    /// Text the model answered, if any.
    pub content: Option<String>,
    /// The tools it asked to run (none: it is done).
    pub calls: Vec<ToolCall>,
    /// Its message as received, to send back in the conversation.
    pub assistant: Value,
}

/// The message that answers `call` with `content`, in the backend's wire shape.
pub fn tool_message(backend: Backend, call: &ToolCall, content: &str) -> Value {
    match backend {
        Backend::Ollama => {
            serde_json::json!({"role": "tool", "tool_name": call.name, "content": content})
        }
        Backend::Openai => {
            serde_json::json!({"role": "tool", "tool_call_id": call.id, "content": content})
        }
    }
}

/// The model's answer text and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatReply {
    pub content: String,
    /// Model name the server reported (else the configured one).
    pub model: String,
    pub attempts: u32,
    pub latency_ms: u64,
}

/// Failures talking to the model server.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("HTTP client could not be built")]
    Client {
        #[source]
        source: outbound::OutboundError,
    },
    #[error("model endpoint `{url}` timed out after {timeout_ms} ms ({attempts} attempts)")]
    Timeout {
        url: String,
        timeout_ms: u64,
        attempts: u32,
    },
    #[error("model endpoint `{url}` could not be reached ({attempts} attempts)")]
    Transport {
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },
    #[error("model endpoint `{url}` answered HTTP {status} ({attempts} attempts): {body}")]
    Status {
        url: String,
        status: u16,
        attempts: u32,
        /// Start of the response body.
        body: String,
    },
    #[error("model endpoint `{url}` answered a body that is not the {backend:?} wire format")]
    Wire {
        url: String,
        backend: Backend,
        #[source]
        source: serde_json::Error,
    },
    #[error("model endpoint `{url}` answered no message content")]
    EmptyAnswer { url: String },
    #[error("the model's answer is unusable")]
    Answer {
        #[source]
        source: crate::grounding::AnswerError,
    },
}

impl LlmError {
    /// Short stable name for ledgers and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Client { .. } => "client",
            LlmError::Timeout { .. } => "timeout",
            LlmError::Transport { .. } => "transport",
            LlmError::Status { .. } => "status",
            LlmError::Wire { .. } => "wire",
            LlmError::EmptyAnswer { .. } => "empty_answer",
            LlmError::Answer { .. } => "answer",
        }
    }
}

impl Classify for LlmError {
    fn class(&self) -> ErrorClass {
        match self {
            LlmError::Timeout { .. } | LlmError::Transport { .. } => ErrorClass::Unavailable {
                retry_after_secs: 5,
            },
            LlmError::Status { status: 429, .. } => ErrorClass::RateLimited {
                retry_after_secs: 5,
            },
            LlmError::Status { status, .. } if *status >= 500 => ErrorClass::Unavailable {
                retry_after_secs: 5,
            },
            LlmError::Client { .. }
            | LlmError::Status { .. }
            | LlmError::Wire { .. }
            | LlmError::EmptyAnswer { .. }
            | LlmError::Answer { .. } => ErrorClass::Internal,
        }
    }
}

/// Ollama `/api/chat` non-streaming response (fields used).
#[derive(Debug, Deserialize)]
struct OllamaResponse {
    #[serde(default)]
    model: Option<String>,
    message: Option<OllamaMessage>,
}

#[derive(Debug, Deserialize)]
struct OllamaMessage {
    #[serde(default)]
    content: Option<String>,
}

/// OpenAI `chat.completion` response (fields used).
#[derive(Debug, Deserialize)]
struct OpenAiResponse {
    #[serde(default)]
    model: Option<String>,
    choices: Vec<OpenAiChoice>,
}

#[derive(Debug, Deserialize)]
struct OpenAiChoice {
    message: OpenAiMessage,
}

#[derive(Debug, Deserialize)]
struct OpenAiMessage {
    #[serde(default)]
    content: Option<String>,
}

/// Ollama `/api/chat` request.
#[derive(Serialize)]
struct OllamaRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    format: &'a JsonSchema,
    options: OllamaOptions,
}

#[derive(Serialize)]
struct OllamaOptions {
    temperature: f64,
    num_predict: u32,
}

/// OpenAI `/v1/chat/completions` request.
#[derive(Serialize)]
struct OpenAiRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    temperature: f64,
    max_tokens: u32,
    response_format: ResponseFormat<'a>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseFormat<'a> {
    JsonSchema { json_schema: NamedSchema<'a> },
    JsonObject,
}

#[derive(Serialize)]
struct NamedSchema<'a> {
    name: &'static str,
    strict: bool,
    schema: &'a JsonSchema,
}

/// One attempt's outcome.
enum Attempt<T> {
    Done(T),
    Retry(LlmError, Option<Duration>),
    Fail(LlmError),
}

/// A chat client for one model endpoint.
#[derive(Debug, Clone)]
pub struct LlmClient {
    config: LlmConfig,
    http: reqwest::Client,
    endpoint: String,
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> Result<Self, LlmError> {
        let builder = outbound::client_builder(&config.tls_config)
            .map_err(|source| LlmError::Client { source })?
            .timeout(Duration::from_millis(config.timeout_ms.max(1)))
            .connect_timeout(Duration::from_millis(config.timeout_ms.clamp(1, 10_000)));
        let http = outbound::build(builder).map_err(|source| LlmError::Client { source })?;
        let base = config.url.trim_end_matches('/');
        let endpoint = match config.backend {
            Backend::Ollama => format!("{base}/api/chat"),
            Backend::Openai if base.ends_with("/v1") => format!("{base}/chat/completions"),
            Backend::Openai => format!("{base}/v1/chat/completions"),
        };
        Ok(Self {
            config,
            http,
            endpoint,
        })
    }

    pub fn config(&self) -> &LlmConfig {
        &self.config
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The request body for `messages`, constrained to `schema` (fields in schema order).
    pub fn request_body(&self, messages: &[ChatMessage], schema: &JsonSchema) -> String {
        let c = &self.config;
        let body = match c.backend {
            Backend::Ollama => serde_json::to_string(&OllamaRequest {
                model: &c.model,
                messages,
                stream: false,
                format: schema,
                options: OllamaOptions {
                    temperature: c.temperature,
                    num_predict: c.max_tokens,
                },
            }),
            Backend::Openai => serde_json::to_string(&OpenAiRequest {
                model: &c.model,
                messages,
                stream: false,
                temperature: c.temperature,
                max_tokens: c.max_tokens,
                response_format: match c.json_mode {
                    JsonMode::JsonSchema => ResponseFormat::JsonSchema {
                        json_schema: NamedSchema {
                            name: "rca_interpretation",
                            strict: true,
                            schema,
                        },
                    },
                    JsonMode::JsonObject => ResponseFormat::JsonObject,
                },
            }),
        };
        // Plain structs of strings and numbers: serialisation cannot fail.
        body.unwrap_or_default()
    }

    /// Sends `messages` and returns the answer text, retrying transient failures.
    pub async fn chat(
        &self,
        messages: &[ChatMessage],
        schema: &JsonSchema,
    ) -> Result<ChatReply, LlmError> {
        let body = self.request_body(messages, schema);
        let started = Instant::now();
        self.send(&body, |text, attempt| self.answer(text, attempt, started))
            .await
    }

    /// Posts `body`, retrying transient failures within the bounds, and reads the answer with
    /// `read` (given the body text and the attempt number).
    async fn send<T>(
        &self,
        body: &str,
        read: impl Fn(&str, u32) -> Result<T, LlmError>,
    ) -> Result<T, LlmError> {
        let attempts_max = self.config.max_retries.saturating_add(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = match self.attempt(body, attempt).await {
                Attempt::Done(text) => match read(&text, attempt) {
                    Ok(done) => Attempt::Done(done),
                    Err(error) => Attempt::Fail(error),
                },
                Attempt::Retry(e, after) => Attempt::Retry(e, after),
                Attempt::Fail(e) => Attempt::Fail(e),
            };
            match outcome {
                Attempt::Done(reply) => return Ok(reply),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(e, _) if attempt >= attempts_max => return Err(e),
                Attempt::Retry(e, retry_after) => {
                    let delay = self.backoff(attempt, retry_after);
                    tracing::debug!(error = %e, attempt, delay_ms = delay.as_millis() as u64, "model call retried");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let cap = self.config.max_backoff_ms;
        let exp = self
            .config
            .backoff_ms
            .saturating_mul(1u64 << (attempt - 1).min(16))
            .min(cap);
        let jitter = if exp > 0 {
            rand::rng().random_range(0..=exp / 5)
        } else {
            0
        };
        let server = retry_after.map_or(0, |d| (d.as_millis() as u64).min(cap));
        Duration::from_millis((exp + jitter).max(server))
    }

    async fn attempt(&self, body: &str, attempt: u32) -> Attempt<String> {
        let url = self.endpoint.clone();
        let mut request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned());
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Retry(self.transport_error(e, attempt), None),
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = match response.text().await {
            Ok(t) => t,
            Err(e) => return Attempt::Retry(self.transport_error(e, attempt), None),
        };
        if !status.is_success() {
            let error = LlmError::Status {
                url,
                status: status.as_u16(),
                attempts: attempt,
                body: text.chars().take(300).collect(),
            };
            return if status.as_u16() == 429 || status.is_server_error() {
                Attempt::Retry(error, retry_after)
            } else {
                Attempt::Fail(error)
            };
        }
        Attempt::Done(text)
    }

    fn wire(&self, source: serde_json::Error) -> LlmError {
        LlmError::Wire {
            url: self.endpoint.clone(),
            backend: self.config.backend,
            source,
        }
    }

    /// The answer text of a chat response body.
    fn answer(&self, text: &str, attempt: u32, started: Instant) -> Result<ChatReply, LlmError> {
        let (model, content) = match self.config.backend {
            Backend::Ollama => {
                let r = serde_json::from_str::<OllamaResponse>(text).map_err(|e| self.wire(e))?;
                (r.model, r.message.and_then(|m| m.content))
            }
            Backend::Openai => {
                let r = serde_json::from_str::<OpenAiResponse>(text).map_err(|e| self.wire(e))?;
                (
                    r.model,
                    r.choices.into_iter().next().and_then(|c| c.message.content),
                )
            }
        };
        match content {
            Some(content) if !content.trim().is_empty() => Ok(ChatReply {
                content,
                model: model
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| self.config.model.clone()),
                attempts: attempt,
                latency_ms: started.elapsed().as_millis() as u64,
            }),
            _ => Err(LlmError::EmptyAnswer {
                url: self.endpoint.clone(),
            }),
        }
    }

    /// One turn of a function-calling conversation: `messages` (the chat so far, in the
    /// backend's wire shape, see [`ToolTurn::assistant`] and [`tool_message`]) with the
    /// `tools` offered (`{name, description, parameters}`); the model either calls tools or
    /// answers. Retried like [`LlmClient::chat`].
    pub async fn tool_turn(
        &self,
        messages: &[Value],
        tools: &[FunctionSpec],
    ) -> Result<ToolTurn, LlmError> {
        let c = &self.config;
        let offered: Vec<Value> = tools
            .iter()
            .map(|t| {
                serde_json::json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
        let body = match c.backend {
            Backend::Ollama => serde_json::json!({
                "model": c.model, "messages": messages, "stream": false, "tools": offered,
                "options": {"temperature": c.temperature, "num_predict": c.max_tokens},
            }),
            Backend::Openai => serde_json::json!({
                "model": c.model, "messages": messages, "stream": false, "tools": offered,
                "tool_choice": "auto", "temperature": c.temperature, "max_tokens": c.max_tokens,
            }),
        };
        let backend = c.backend;
        self.send(&body.to_string(), |text, _| {
            let value: Value = serde_json::from_str(text).map_err(|e| self.wire(e))?;
            let message = match backend {
                Backend::Ollama => value["message"].clone(),
                Backend::Openai => value["choices"][0]["message"].clone(),
            };
            if !message.is_object() {
                return Err(LlmError::EmptyAnswer {
                    url: self.endpoint.clone(),
                });
            }
            let calls = message["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .take(MAX_CALLS_PER_TURN)
                .enumerate()
                .map(|(i, call)| {
                    let function = &call["function"];
                    // OpenAI sends the arguments as a JSON string, Ollama as an object.
                    let arguments = match &function["arguments"] {
                        Value::String(text) => {
                            serde_json::from_str(text).unwrap_or(Value::String(text.clone()))
                        }
                        other => other.clone(),
                    };
                    ToolCall {
                        id: call["id"]
                            .as_str()
                            .map_or_else(|| format!("call_{i}"), str::to_owned),
                        name: function["name"].as_str().unwrap_or_default().to_owned(),
                        arguments,
                    }
                })
                .collect();
            Ok(ToolTurn {
                content: message["content"].as_str().map(str::to_owned),
                calls,
                assistant: message,
            })
        })
        .await
    }

    fn transport_error(&self, e: reqwest::Error, attempts: u32) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout {
                url: self.endpoint.clone(),
                timeout_ms: self.config.timeout_ms,
                attempts,
            }
        } else {
            LlmError::Transport {
                url: self.endpoint.clone(),
                attempts,
                source: e.without_url(),
            }
        }
    }
}
