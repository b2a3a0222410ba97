/// The chat page served at `/`: one self-contained HTML file (no external script, style or
/// font, so it works offline) that talks to `/v1/chat/completions` with streaming.
///
/// Replies are inserted with `textContent` only, never as HTML, so a reply holding markup or a
/// script shows as the text it is.
enum ChatPage {
  static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <link rel="icon" href="data:,">
    <title>MiniLLM chat</title>
    <style>
      :root { color-scheme: light dark; --accent: #3b6fd8; }
      * { box-sizing: border-box; }
      body { margin: 0; font: 15px/1.5 system-ui, sans-serif; display: flex; flex-direction: column; height: 100vh; }
      header { display: flex; gap: .75rem; align-items: center; flex-wrap: wrap; padding: .6rem 1rem; border-bottom: 1px solid #8884; }
      header h1 { font-size: 1rem; margin: 0 .5rem 0 0; }
      header label { display: flex; gap: .35rem; align-items: center; font-size: .85rem; }
      #system { width: 22rem; max-width: 100%; }
      #log { flex: 1; overflow-y: auto; padding: 1rem; display: flex; flex-direction: column; gap: .75rem; }
      .msg { max-width: 48rem; padding: .55rem .8rem; border-radius: .6rem; white-space: pre-wrap; overflow-wrap: anywhere; }
      .user { align-self: flex-end; background: var(--accent); color: #fff; }
      .assistant { align-self: flex-start; background: #8882; }
      .error { align-self: center; color: #c33; font-size: .9rem; }
      .meta { font-size: .75rem; opacity: .65; margin-top: .25rem; }
      form { display: flex; gap: .5rem; padding: .75rem 1rem; border-top: 1px solid #8884; }
      #input { flex: 1; resize: vertical; min-height: 2.6rem; font: inherit; padding: .45rem; }
      button { font: inherit; padding: .4rem .9rem; cursor: pointer; }
      button[disabled] { cursor: default; opacity: .5; }
    </style>
    </head>
    <body>
    <header>
      <h1>MiniLLM chat <span id="model"></span></h1>
      <label>System <input id="system" type="text" placeholder="optional system prompt"></label>
      <label>Temperature <input id="temperature" type="range" min="0" max="2" step="0.05" value="0.7">
        <output id="temperature-value">0.7</output></label>
      <label>Max tokens <input id="max-tokens" type="number" min="1" value="256" style="width:5rem"></label>
      <label>API key <input id="api-key" type="password" autocomplete="off" style="width:8rem"></label>
      <button id="new-chat" type="button">New chat</button>
    </header>
    <main id="log" aria-live="polite"></main>
    <form id="form">
      <textarea id="input" placeholder="Type a message; Enter sends, Shift+Enter adds a line" required></textarea>
      <button id="send" type="submit">Send</button>
      <button id="stop" type="button" disabled>Stop</button>
    </form>
    <script>
    "use strict";
    const $ = (id) => document.getElementById(id);
    const log = $("log"), input = $("input"), send = $("send"), stop = $("stop");
    let history = [];
    let controller = null;
    let modelName = null;

    $("temperature").addEventListener("input", () => { $("temperature-value").textContent = $("temperature").value; });

    function headers() {
      const h = { "Content-Type": "application/json" };
      const key = $("api-key").value.trim();
      if (key) h["Authorization"] = "Bearer " + key;
      return h;
    }

    function bubble(role, text) {
      const div = document.createElement("div");
      div.className = "msg " + role;
      div.textContent = text;
      log.appendChild(div);
      log.scrollTop = log.scrollHeight;
      return div;
    }

    function showError(text) { bubble("error", text); }

    async function loadModel() {
      try {
        const r = await fetch("/v1/models", { headers: headers() });
        if (!r.ok) return;
        const body = await r.json();
        modelName = body.data && body.data[0] ? body.data[0].id : null;
        $("model").textContent = modelName ? "· " + modelName : "";
      } catch (e) { /* the page still works; the server names the model */ }
    }

    function setBusy(busy) {
      send.disabled = busy;
      stop.disabled = !busy;
    }

    $("new-chat").addEventListener("click", () => {
      if (controller) controller.abort();
      history = [];
      log.replaceChildren();
      input.focus();
    });

    stop.addEventListener("click", () => { if (controller) controller.abort(); });

    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("form").requestSubmit(); }
    });

    $("form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text || controller) return;
      input.value = "";
      bubble("user", text);
      history.push({ role: "user", content: text });
      const messages = [];
      const system = $("system").value.trim();
      if (system) messages.push({ role: "system", content: system });
      messages.push(...history);
      const reply = bubble("assistant", "");
      const meta = document.createElement("div");
      meta.className = "meta";
      let answer = "";
      let finish = null;
      controller = new AbortController();
      setBusy(true);
      try {
        const request = {
          messages, stream: true, temperature: Number($("temperature").value),
          max_tokens: Math.max(1, Number($("max-tokens").value) || 256),
          stream_options: { include_usage: true },
        };
        if (modelName) request.model = modelName;
        const r = await fetch("/v1/chat/completions", {
          method: "POST", headers: headers(), body: JSON.stringify(request), signal: controller.signal,
        });
        if (!r.ok) {
          let message = r.status + " " + r.statusText;
          try { const body = await r.json(); if (body.error) message = r.status + ": " + body.error.message; } catch (_) {}
          throw new Error(message);
        }
        const reader = r.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const event = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            for (const line of event.split("\n")) {
              if (!line.startsWith("data: ")) continue;
              const data = line.slice(6);
              if (data === "[DONE]") continue;
              const chunk = JSON.parse(data);
              if (chunk.error) throw new Error(chunk.error.message);
              const choice = chunk.choices && chunk.choices[0];
              if (choice && choice.delta && typeof choice.delta.content === "string") {
                answer += choice.delta.content;
                reply.textContent = answer;
                log.scrollTop = log.scrollHeight;
              }
              if (choice && choice.finish_reason) finish = choice.finish_reason;
              if (chunk.usage) meta.textContent = chunk.usage.completion_tokens + " tokens · " + (finish || "");
            }
          }
        }
      } catch (err) {
        if (err.name === "AbortError") {
          finish = "stopped";
          meta.textContent = "stopped";
        } else {
          showError(String(err.message || err));
        }
      } finally {
        controller = null;
        setBusy(false);
        reply.appendChild(meta);
        if (answer) history.push({ role: "assistant", content: answer });
        else if (finish !== "stopped") history.pop();
        input.focus();
      }
    });

    loadModel();
    input.focus();
    </script>
    </body>
    </html>
    """#
}
