// Loopback server for a local GGUF model (SmolLM2-135M in tests) speaking the two wire formats
// the rca crate uses: Ollama `POST /api/chat` and OpenAI `POST /v1/chat/completions`,
// non-streaming, with JSON-schema constrained output through node-llama-cpp grammars.
//
// With `tools` in a request (function calling), the model picks one offered tool (or none)
// under a grammar, and the answer carries it as `tool_calls` in the request's wire format;
// tool results (`role: tool`) are given to the model as text after the last user message.
//
// Usage: node serve.mjs --model PATH.gguf [--port 0] [--threads 1] [--context 4096]
// Prints `listening http://127.0.0.1:PORT` once the model is loaded. Binds 127.0.0.1 only.
import http from "node:http";
import path from "node:path";
import { getLlama, LlamaChatSession } from "node-llama-cpp";

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const modelPath = arg("model", process.env.SREBOT_LLM_GGUF);
if (!modelPath) {
  console.error("missing --model PATH.gguf");
  process.exit(2);
}
const port = Number(arg("port", "0"));
const threads = Number(arg("threads", "1"));
const contextSize = Number(arg("context", "4096"));
const modelName = path.basename(modelPath, ".gguf");

const llama = await getLlama({ gpu: false });
const model = await llama.loadModel({ modelPath });
const context = await model.createContext({ contextSize, threads });
const sequence = context.getSequence();

// node-llama-cpp's schema grammar takes a subset of JSON schema: keep what it knows.
function grammarSchema(schema) {
  if (Array.isArray(schema)) return schema.map(grammarSchema);
  if (schema === null || typeof schema !== "object") return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k === "required" || k === "strict" || k === "$schema") continue;
    out[k] = grammarSchema(v);
  }
  return out;
}

let queue = Promise.resolve();
function serialised(job) {
  const run = queue.then(job, job);
  queue = run.catch(() => {});
  return run;
}

async function complete({ messages, schema, jsonObject, temperature, maxTokens }) {
  const system = messages.filter((m) => m.role === "system").map((m) => m.content).join("\n");
  const users = messages.filter((m) => m.role === "user");
  const user = users.length ? users[users.length - 1].content : "";
  await sequence.clearHistory();
  const session = new LlamaChatSession({
    contextSequence: sequence,
    systemPrompt: system,
    autoDisposeSequence: false,
  });
  let grammar;
  if (schema) grammar = await llama.createGrammarForJsonSchema(grammarSchema(schema));
  else if (jsonObject) grammar = await llama.getGrammarFor("json");
  const started = Date.now();
  const text = await session.prompt(user, { grammar, temperature, maxTokens });
  session.dispose({ disposeSequence: false });
  return { text, ms: Date.now() - started };
}

// The offered functions of a request (`tools: [{type: "function", function: {...}}]`).
function offered(body) {
  return (Array.isArray(body.tools) ? body.tools : [])
    .map((t) => t && t.function)
    .filter((f) => f && typeof f.name === "string");
}

// One function-calling turn: the model answers {tool, arguments, answer} under a grammar;
// `tool` is an offered name or "none".
async function toolTurn(messages, functions, temperature, maxTokens) {
  const names = functions.map((f) => f.name);
  const listing = functions.map((f) => `- ${f.name}: ${f.description || ""}`).join("\n");
  const system = [
    ...messages.filter((m) => m.role === "system").map((m) => m.content),
    `Tools you may call:\n${listing}\nAnswer JSON: "tool" is the tool to call or "none", ` +
      `"arguments" its arguments as a JSON object text, "answer" a short text when the tool is "none".`,
  ].join("\n");
  const lastUser = messages.map((m) => m.role).lastIndexOf("user");
  const results = messages
    .slice(lastUser + 1)
    .filter((m) => m.role === "tool")
    .map((m) => `Tool result: ${m.content}`);
  const user = [lastUser >= 0 ? messages[lastUser].content : "", ...results].join("\n");
  const schema = {
    type: "object",
    properties: {
      tool: { enum: [...names, "none"] },
      arguments: { type: "string" },
      answer: { type: "string" },
    },
  };
  const { text } = await complete({
    messages: [{ role: "system", content: system }, { role: "user", content: user }],
    schema,
    temperature,
    maxTokens,
  });
  let picked = {};
  try {
    picked = JSON.parse(text);
  } catch {
    picked = { tool: "none", answer: text };
  }
  if (!picked.tool || picked.tool === "none" || !names.includes(picked.tool)) {
    return { call: null, answer: String(picked.answer || "") };
  }
  let args = {};
  try {
    const parsed = JSON.parse(picked.arguments || "{}");
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) args = parsed;
  } catch {
    args = {};
  }
  return { call: { name: picked.tool, arguments: args }, answer: null };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function send(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

const server = http.createServer(async (req, res) => {
  try {
    if (req.method === "GET" && (req.url === "/health" || req.url === "/api/version")) {
      return send(res, 200, { status: "ok", model: modelName });
    }
    if (req.method !== "POST") return send(res, 405, { error: "method not allowed" });
    let body;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return send(res, 400, { error: "body is not JSON" });
    }
    const messages = Array.isArray(body.messages) ? body.messages : [];
    const functions = offered(body);
    if (functions.length && (req.url === "/api/chat" || req.url === "/v1/chat/completions")) {
      const ollama = req.url === "/api/chat";
      const options = body.options || {};
      const { call, answer } = await serialised(() =>
        toolTurn(
          messages,
          functions,
          (ollama ? options.temperature : body.temperature) ?? 0,
          (ollama ? options.num_predict : body.max_tokens) ?? 512,
        ),
      );
      if (ollama) {
        const message = call
          ? { role: "assistant", content: "", tool_calls: [{ function: call }] }
          : { role: "assistant", content: answer };
        return send(res, 200, {
          model: body.model || modelName,
          created_at: new Date().toISOString(),
          message,
          done_reason: "stop",
          done: true,
        });
      }
      const message = call
        ? {
            role: "assistant",
            content: null,
            tool_calls: [
              {
                id: `call_${Date.now()}`,
                type: "function",
                function: { name: call.name, arguments: JSON.stringify(call.arguments) },
              },
            ],
          }
        : { role: "assistant", content: answer };
      return send(res, 200, {
        id: `chatcmpl-${Date.now()}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model || modelName,
        choices: [{ index: 0, message, finish_reason: call ? "tool_calls" : "stop" }],
      });
    }
    if (req.url === "/api/chat") {
      const format = body.format;
      const options = body.options || {};
      const { text, ms } = await serialised(() =>
        complete({
          messages,
          schema: format && typeof format === "object" ? format : undefined,
          jsonObject: format === "json",
          temperature: options.temperature ?? 0,
          maxTokens: options.num_predict ?? 512,
        }),
      );
      return send(res, 200, {
        model: body.model || modelName,
        created_at: new Date().toISOString(),
        message: { role: "assistant", content: text },
        done_reason: "stop",
        done: true,
        total_duration: ms * 1e6,
      });
    }
    if (req.url === "/v1/chat/completions") {
      const rf = body.response_format || {};
      const { text } = await serialised(() =>
        complete({
          messages,
          schema: rf.type === "json_schema" ? rf.json_schema?.schema : undefined,
          jsonObject: rf.type === "json_object",
          temperature: body.temperature ?? 0,
          maxTokens: body.max_tokens ?? 512,
        }),
      );
      return send(res, 200, {
        id: `chatcmpl-${Date.now()}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: body.model || modelName,
        choices: [{ index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" }],
      });
    }
    return send(res, 404, { error: "not found" });
  } catch (e) {
    return send(res, 500, { error: String(e && e.message ? e.message : e) });
  }
});

server.listen(port, "127.0.0.1", () => {
  console.log(`listening http://127.0.0.1:${server.address().port}`);
});
