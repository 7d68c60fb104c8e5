//! mcp: SRE Smart Bot's read-only investigation tools over the Model Context Protocol, with
//! the official Rust SDK (`rmcp`): streamable HTTP at `/mcp` inside `srebot serve`, and stdio
//! (`srebot mcp`) talking to a running server with a read token.
//!
//! Invariants: the tools are exactly `app::tools`' catalogue (no tool of its own, nothing that
//! changes anything; every tool is annotated read-only); in the server each call runs as the
//! caller the HTTP edge authenticated, so roles are checked once, in `app`; over stdio each call
//! is one `POST /api/v1/tools/{name}` with the token. Tool names are the function-call form
//! (`incidents_list`) that every model API accepts, the dotted catalogue name (`incidents.list`)
//! is the title, and calls accept either.

use app::{App, AppError, Caller};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ProtocolVersion, ServerCapabilities,
    ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::Value;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// The revisions spoken: the newest rmcp knows, and the one before it (the last with the
/// `initialize` handshake) for clients that have not moved on.
pub const PROTOCOL_VERSIONS: &[ProtocolVersion] =
    &[ProtocolVersion::V_2025_11_25, ProtocolVersion::V_2026_07_28];

/// What the server tells a client about itself.
const INSTRUCTIONS: &str = "SRE Smart Bot's read-only investigation tools. Every result is kept \
    as evidence under its evidence_id: cite those ids. Nothing here changes the cluster, \
    incidents, approvals or actions.";

/// Why the stdio bridge could not start or a call could not be made.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("building the HTTP client for {url}")]
    Client {
        url: String,
        #[source]
        source: outbound::OutboundError,
    },
    #[error("{url} could not be reached")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("reading the answer of {url}")]
    Read {
        url: String,
        #[source]
        source: outbound::OutboundError,
    },
    #[error("{url} answered HTTP {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url} answered a body that is not the tools API's JSON")]
    Body {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("serving MCP over stdio")]
    Serve {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// A running server's tool routes, called with a bearer token.
#[derive(Debug, Clone)]
pub struct Remote {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// Longest wait for one tool call of the remote server.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read from the remote server.
const MAX_ANSWER_BYTES: usize = 8 << 20;

impl Remote {
    /// A client of the server at `url` (`http://` or `https://`, trusting `tls`' CA).
    pub fn new(
        url: &str,
        token: Option<String>,
        tls: &outbound::TlsConfig,
    ) -> Result<Self, McpError> {
        let client = |source| McpError::Client {
            url: url.to_owned(),
            source,
        };
        let builder = outbound::client_builder(tls)
            .map_err(client)?
            .timeout(REMOTE_TIMEOUT);
        Ok(Self {
            http: outbound::build(builder).map_err(client)?,
            base: url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    async fn request(
        &self,
        request: reqwest::RequestBuilder,
        url: &str,
    ) -> Result<Value, McpError> {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request
            .send()
            .await
            .map_err(|source| McpError::Unreachable {
                url: url.to_owned(),
                source: source.without_url(),
            })?;
        let status = response.status().as_u16();
        let bytes = outbound::read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|source| McpError::Read {
                url: url.to_owned(),
                source,
            })?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|source| McpError::Body {
            url: url.to_owned(),
            source,
        })?;
        if !(200..300).contains(&status) {
            return Err(McpError::Refused {
                url: url.to_owned(),
                status,
                message: body["error"].as_str().unwrap_or("refused").to_owned(),
            });
        }
        Ok(body["data"].clone())
    }

    /// `GET /api/v1/tools`: the catalogue (and a check that the token may read).
    pub async fn catalogue(&self) -> Result<Vec<Value>, McpError> {
        let url = format!("{}/api/v1/tools", self.base);
        let data = self.request(self.http.get(&url), &url).await?;
        Ok(data.as_array().cloned().unwrap_or_default())
    }

    /// `POST /api/v1/tools/{name}` with the arguments.
    pub async fn call(&self, name: &str, args: &Value) -> Result<Value, McpError> {
        let url = format!("{}/api/v1/tools/{name}", self.base);
        let request = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(args.to_string());
        self.request(request, &url).await
    }
}

/// Where the tools run.
#[derive(Debug, Clone)]
enum Backend {
    /// Inside `srebot serve`: the application, as the caller the HTTP edge authenticated.
    Local(Arc<App>),
    /// `srebot mcp`: a running server's tool routes.
    Remote(Remote),
}

/// The MCP server: lists the catalogue, runs the tools.
#[derive(Debug, Clone)]
pub struct ToolServer {
    backend: Backend,
    tools: Arc<Vec<Tool>>,
}

/// An MCP tool from a catalogue entry (`app::ToolSpec` or its JSON from the tools API).
fn mcp_tool(spec: &Value) -> Option<Tool> {
    let name = spec["name"].as_str()?.to_owned();
    let function = spec["function_name"].as_str()?.to_owned();
    let description = spec["description"].as_str().unwrap_or_default().to_owned();
    let schema: JsonObject = spec["input_schema"].as_object()?.clone();
    Some(
        Tool::new(function, description, Arc::new(schema))
            .with_title(name.clone())
            .annotate(
                ToolAnnotations::with_title(name)
                    .read_only(true)
                    .destructive(false)
                    .idempotent(true)
                    .open_world(false),
            ),
    )
}

impl ToolServer {
    /// The tools of the application in this process.
    pub fn local(app: Arc<App>) -> Self {
        let tools = app::tools::catalogue(&app.config.tools)
            .iter()
            .filter_map(|spec| serde_json::to_value(spec).ok())
            .filter_map(|spec| mcp_tool(&spec))
            .collect();
        Self {
            backend: Backend::Local(app),
            tools: Arc::new(tools),
        }
    }

    /// The tools of a running server (its catalogue is read first, which checks the token).
    pub async fn remote(remote: Remote) -> Result<Self, McpError> {
        let tools = remote
            .catalogue()
            .await?
            .iter()
            .filter_map(mcp_tool)
            .collect();
        Ok(Self {
            backend: Backend::Remote(remote),
            tools: Arc::new(tools),
        })
    }

    /// The tools as listed.
    pub fn tools(&self) -> &[Tool] {
        &self.tools
    }

    async fn run(
        &self,
        name: &str,
        args: Value,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        if app::Tool::from_name(name).is_none() {
            return Err(ErrorData::invalid_params(
                format!("unknown tool {name:?}: tools/list names every tool"),
                None,
            ));
        }
        match &self.backend {
            Backend::Local(app) => {
                let caller = context
                    .extensions
                    .get::<http::request::Parts>()
                    .and_then(|parts| parts.extensions.get::<Caller>())
                    .cloned()
                    .ok_or_else(|| {
                        ErrorData::internal_error(
                            "the request carries no authenticated caller",
                            None,
                        )
                    })?;
                match app.run_tool(&caller, name, &args).await {
                    Ok(answer) => Ok(answered(
                        serde_json::to_value(&answer).unwrap_or(Value::Null),
                    )),
                    Err(error) => Ok(refused(&app_message(&error))),
                }
            }
            Backend::Remote(remote) => match remote.call(name, &args).await {
                Ok(data) => Ok(answered(data)),
                Err(McpError::Refused {
                    status, message, ..
                }) => Ok(refused(&format!("{message} (HTTP {status})"))),
                Err(other) => Ok(refused(&chain(&other))),
            },
        }
    }
}

fn answered(answer: Value) -> CallToolResult {
    CallToolResult::structured(answer)
}

fn refused(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_owned())])
}

fn app_message(error: &AppError) -> String {
    chain(error)
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl ServerHandler for ToolServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("srebot", env!("CARGO_PKG_VERSION"))
                    .with_title("SRE Smart Bot"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(PROTOCOL_VERSIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools.to_vec()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let args = request.arguments.map_or(Value::Null, Value::Object);
        self.run(&request.name, args, &context)
            .await
            .map(Into::into)
    }
}

/// The streamable HTTP service `srebot serve` mounts at `/mcp`. `check_hosts`: refuse `Host`
/// headers other than loopback names (against DNS rebinding when the server needs no token).
pub fn http_service(
    app: Arc<App>,
    check_hosts: bool,
    max_request_bytes: usize,
) -> rmcp::transport::StreamableHttpService<
    ToolServer,
    rmcp::transport::streamable_http_server::session::local::LocalSessionManager,
> {
    let mut config = rmcp::transport::StreamableHttpServerConfig::default()
        .with_max_request_body_bytes(max_request_bytes);
    if !check_hosts {
        config = config.disable_allowed_hosts();
    }
    let server = ToolServer::local(app);
    rmcp::transport::StreamableHttpService::new(move || Ok(server.clone()), Arc::default(), config)
}

/// Serves the remote server's tools over stdin/stdout until the client closes them.
pub async fn serve_stdio(remote: Remote) -> Result<(), McpError> {
    let server = ToolServer::remote(remote).await?;
    let service = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|source| McpError::Serve {
            source: Box::new(source),
        })?;
    service.waiting().await.map_err(|source| McpError::Serve {
        source: Box::new(source),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_tool_becomes_a_read_only_mcp_tool() {
        let specs = app::tools::catalogue(&app::config::ToolsConfig::default());
        assert_eq!(specs.len(), app::Tool::ALL.len());
        for spec in &specs {
            let value = serde_json::to_value(spec).unwrap_or_default();
            let tool = mcp_tool(&value).unwrap_or_else(|| panic!("{value}"));
            assert!(!tool.name.contains('.'), "{}", tool.name);
            assert_eq!(tool.title.as_deref(), Some(spec.name));
            let hints = tool.annotations.clone().unwrap_or_default();
            assert_eq!(hints.read_only_hint, Some(true));
            assert_eq!(hints.destructive_hint, Some(false));
            assert_eq!(tool.input_schema.get("type"), Some(&Value::from("object")));
            // A call by either name reaches the same tool.
            assert_eq!(
                app::Tool::from_name(&tool.name),
                app::Tool::from_name(spec.name)
            );
        }
    }

    #[test]
    fn speaks_the_newest_revision_and_the_one_before() {
        assert!(PROTOCOL_VERSIONS.contains(&ProtocolVersion::LATEST));
        assert!(PROTOCOL_VERSIONS.contains(&ProtocolVersion::LATEST_WITH_INITIALIZE));
        assert_eq!(PROTOCOL_VERSIONS.len(), 2);
    }
}
