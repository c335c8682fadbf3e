/*
 * The upload_progress plugin's console panel: send a file to POST /api/uploads
 * and follow upload:<id> to 100 %. A module; the console calls mount(ctx).
 */

export function mount(ctx) {
  var hub = ctx.hub;
  var $ = ctx.$;
  var current = null; // the topic of the upload shown

  function setPercent(percent) {
    var value = Math.max(0, Math.min(100, Math.round(percent)));
    $("#upload-progress").value = value;
    $("#upload-percent").textContent = String(value);
  }

  hub.on("upload.progress", function (data, envelope) {
    if (envelope.topic !== current) return;
    setPercent(data.percent);
    ctx.say($("#upload-status"), data.phase === "storing" ? "Storing…" : "Receiving…");
  });
  hub.on("upload.completed", function (data, envelope) {
    if (envelope.topic !== current) return;
    setPercent(100);
    var status = $("#upload-status");
    status.textContent = "Stored " + data.bytes + " bytes (" + data.content_type + "): ";
    status.appendChild(ctx.el("a", { href: data.url, text: "open the file" }));
    status.dataset.kind = "ok";
  });
  hub.on("upload.failed", function (data, envelope) {
    if (envelope.topic !== current) return;
    ctx.say($("#upload-status"), "Upload failed: " + data.message + " (" + data.code + ")", "error");
  });

  $("#upload-form").addEventListener("submit", async function (event) {
    event.preventDefault();
    var file = $("#upload-file").files[0];
    if (!file) return;
    var id = ctx.uuid();
    var topic = "upload:" + id;
    var previous = current;
    current = topic;
    setPercent(0);
    ctx.say($("#upload-status"), "Starting " + file.name + "…");
    try {
      if (previous) hub.unsubscribe(previous).catch(function () {});
      // Subscribing first claims the id, so no tick is missed.
      await hub.subscribe(topic);
      var form = new FormData();
      form.append("upload_id", id); // before the file, as the hub requires
      form.append("file", file);
      await ctx.api("/api/uploads", { method: "POST", body: form });
    } catch (err) {
      ctx.say($("#upload-status"), "Upload failed: " + ctx.errorText(err), "error");
    }
  });
}
