/*
 * The collab plugin's console panel: a shared editor. A textarea bound to the
 * Y.Text "content" of a hub document (collab:<document>) through the hub's
 * provider (hub-collab.mjs) on the page's own hub connection; everyone's cursors
 * (awareness) shown under it. Yjs comes from the hub itself (yjs.mjs, bundled
 * from pinned npm packages): no CDN, no build step.
 */

import * as Y from "/api/collab/static/yjs.mjs";
import { HubDocProvider } from "/api/collab/static/hub-collab.mjs";

var LOCAL = "collab-panel"; // the origin of this textarea's own changes
var COLORS = ["#d1495b", "#00798c", "#edae49", "#30638e", "#6a4c93", "#3b8b5a"];

function colorOf(name) {
  var hash = 0;
  for (var i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
  return COLORS[hash % COLORS.length];
}

export function mount(ctx) {
  var $ = ctx.$;
  var el = ctx.el;
  var textarea = $("#collab-text");
  var provider = null;
  var ytext = null;
  var shown = ""; // what the textarea held after our last sync with ytext

  function status(text, kind) {
    ctx.say($("#collab-status"), text, kind);
  }

  function relative(index) {
    return Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, index));
  }

  function absolute(json) {
    if (!json) return null;
    var position = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), provider.doc);
    return position && position.type === ytext ? position.index : null;
  }

  function shareCursor() {
    if (!provider || !provider.awareness) return;
    provider.awareness.setLocalStateField("cursor", { anchor: relative(textarea.selectionStart), head: relative(textarea.selectionEnd) });
  }

  function render() {
    var text = ytext ? ytext.toString() : "";
    var cursors = [];
    var peers = $("#collab-peers");
    peers.textContent = "";
    if (provider && provider.awareness) {
      provider.awareness.getStates().forEach(function (state, client) {
        if (!state.user) return;
        var mine = client === provider.doc.clientID;
        var at = state.cursor ? absolute(state.cursor.head) : null;
        if (!mine && at !== null) cursors.push({ at: at, user: state.user.name, color: state.user.color });
        peers.appendChild(el("li", { "data-user": state.user.name },
          el("span", { class: "dot", "aria-hidden": "true", style: "background:" + state.user.color }),
          state.user.name + (mine ? " (you)" : at !== null ? " at " + at : "")));
      });
    }
    cursors.sort(function (a, b) { return a.at - b.at; });
    var view = $("#collab-view");
    view.textContent = "";
    var from = 0;
    cursors.forEach(function (cursor) {
      view.appendChild(document.createTextNode(text.slice(from, cursor.at)));
      view.appendChild(el("span", { class: "collab-cursor", "data-user": cursor.user, "data-at": String(cursor.at),
        title: cursor.user, style: "background:" + cursor.color + ";color:" + cursor.color }));
      from = cursor.at;
    });
    view.appendChild(document.createTextNode(text.slice(from)));
  }

  /** The textarea changed: the same change to the Y.Text (the common prefix and suffix stay). */
  function onInput() {
    var value = textarea.value;
    var start = 0;
    while (start < shown.length && start < value.length && shown[start] === value[start]) start++;
    var end = 0;
    while (end < shown.length - start && end < value.length - start &&
           shown[shown.length - 1 - end] === value[value.length - 1 - end]) end++;
    provider.doc.transact(function () {
      if (shown.length - start - end > 0) ytext.delete(start, shown.length - start - end);
      if (value.length - start - end > 0) ytext.insert(start, value.slice(start, value.length - end));
    }, LOCAL);
    shown = value;
    shareCursor();
  }

  /** The Y.Text changed (someone else): the textarea follows, keeping our selection where it was in the text. */
  function onRemote(event) {
    if (event.transaction.origin === LOCAL) return render();
    var selection = [textarea.selectionStart, textarea.selectionEnd];
    // Map our selection through the change (offsets in the old text, walked along the delta).
    var mapped = selection.map(function (offset) {
      var old = 0;
      var result = offset;
      event.delta.forEach(function (op) {
        if (op.retain) {
          old += op.retain;
        } else if (op.insert) {
          if (old < offset) result += op.insert.length;
        } else if (op.delete) {
          if (old < offset) result -= Math.min(op.delete, offset - old);
          old += op.delete;
        }
      });
      return result;
    });
    shown = ytext.toString();
    textarea.value = shown;
    textarea.setSelectionRange(mapped[0], mapped[1]);
    render();
  }

  function bind(doc) {
    ytext = doc.getText("content");
    ytext.observe(onRemote);
    shown = ytext.toString();
    textarea.value = shown;
    render();
  }

  async function open(name) {
    if (provider) await provider.destroy();
    provider = new HubDocProvider(ctx.hub, name, new Y.Doc(), { Y: Y, awarenessProtocol: Y.awarenessProtocol });
    provider.awareness.setLocalStateField("user", { name: ctx.user, color: colorOf(ctx.user) });
    provider.awareness.on("change", render);
    provider.on("reset", function (detail) {
      provider.awareness.on("change", render);
      bind(detail.doc);
      status("The document was replaced on the hub: showing it afresh.", "ok");
    });
    bind(provider.doc);
    await provider.ready;
    textarea.disabled = !provider.writable;
    status((provider.writable ? "Editing " : "Reading (you may not change it) ") + name, "ok");
  }

  textarea.addEventListener("input", onInput);
  ["select", "keyup", "click", "focus"].forEach(function (type) { textarea.addEventListener(type, shareCursor); });

  $("#collab-form").addEventListener("submit", function (event) {
    event.preventDefault();
    open($("#collab-document").value).catch(function (err) {
      status(ctx.errorText(err), "error");
    });
  });
}
