/*
 * The doc_processing plugin's console panel: submit an image or a PDF to
 * POST /api/documents and watch doc:<id>'s stages to the recognised text.
 * A module; the console calls mount(ctx).
 */

/** A PNG with a line of text, drawn here, so OCR can be tried without a file at hand. */
function sampleImage() {
  var canvas = document.createElement("canvas");
  canvas.width = 900;
  canvas.height = 220;
  var draw = canvas.getContext("2d");
  draw.fillStyle = "#ffffff";
  draw.fillRect(0, 0, canvas.width, canvas.height);
  draw.fillStyle = "#000000";
  draw.font = "bold 64px sans-serif";
  draw.textBaseline = "middle";
  draw.fillText("Hello from the hub", 40, 110);
  return new Promise(function (resolve) {
    canvas.toBlob(function (blob) {
      resolve(new File([blob], "sample.png", { type: "image/png" }));
    }, "image/png");
  });
}

export function mount(ctx) {
  var hub = ctx.hub;
  var $ = ctx.$;
  var el = ctx.el;
  var current = null; // topic
  var stages = new Map(); // stage -> {node, bar, text}

  function renderStatus(status) {
    var message = status.message ? ": " + status.message : "";
    ctx.say($("#doc-state"), "Document " + status.state + " (stage " + status.stage + ")" + message,
      status.state === "failed" ? "error" : status.state === "completed" ? "ok" : "info");
    $("#doc-state").dataset.state = status.state;
    var entry = stages.get(status.stage);
    if (!entry) {
      var bar = el("progress", { max: "100", value: "0", "aria-label": "Stage " + status.stage });
      var text = el("span", { class: "muted" });
      var node = el("li", { "data-stage": status.stage }, el("strong", { text: status.stage }), " ", bar, " ", text);
      $("#doc-stages").appendChild(node);
      entry = { node: node, bar: bar, text: text };
      stages.set(status.stage, entry);
    }
    var progress = typeof status.progress === "number" ? status.progress : 0;
    if (status.state === "completed") progress = 100;
    entry.bar.value = progress;
    entry.text.textContent = Math.round(progress) + " %" + (status.message ? " · " + status.message : "");
    entry.node.dataset.state = status.state;
    if (status.state === "completed" && status.result) {
      var pre = $("#doc-result");
      pre.textContent = status.result.text || "(no text found)";
      pre.hidden = false;
    }
    if (status.state === "failed" && status.error) {
      ctx.say($("#doc-state"), "Failed: " + status.error.message + " (" + status.error.code + ")", "error");
      $("#doc-state").dataset.state = "failed";
    }
  }

  async function submit(file) {
    stages.clear();
    $("#doc-stages").textContent = "";
    $("#doc-result").hidden = true;
    var previous = current;
    current = null;
    if (previous) hub.unsubscribe(previous).catch(function () {});
    ctx.say($("#doc-state"), "Sending " + file.name + "…");
    try {
      var form = new FormData();
      form.append("file", file);
      var job = await ctx.api("/api/documents", { method: "POST", body: form });
      current = "doc:" + job.document_id;
      renderStatus(job);
      // since: 0 replays every status from the first, so no stage is missed.
      await hub.subscribe(current, { since: 0 });
    } catch (err) {
      ctx.say($("#doc-state"), "Could not submit: " + ctx.errorText(err), "error");
    }
  }

  hub.on("doc.status", function (data, envelope) {
    if (envelope.topic !== current) return;
    renderStatus(data);
  });
  $("#doc-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var file = $("#doc-file").files[0];
    if (file) submit(file);
  });
  $("#doc-sample").addEventListener("click", async function () {
    submit(await sampleImage());
  });
}
