/* The PyCodeComplete editor: a textarea with model suggestions in an at.js popup.
 *
 * at.js (jquery.atwho) is set up with no trigger character: its matcher returns an
 * empty query at the caret on every keystroke, its local data is always empty, so
 * every lookup goes to `remoteFilter`, which asks POST /api/complete for the text
 * before the caret (debounced). A reply is shown only if it answers the latest
 * request and the text and caret have not changed since it was sent; anything else
 * is dropped. Suggestions are rendered as text: the HTML at.js builds contains only
 * escaped characters.
 *
 * Tokens: when the server needs one (data-auth="required"), the page asks for it once, in
 * a form above the editor, and keeps it in sessionStorage: this tab only, gone when the
 * tab closes, never in a cookie or localStorage. A 401 forgets it and asks again.
 *
 * Telemetry (when the server records it, data-events-url): what happened to the
 * suggestions shown (shown, accepted with its rank, dismissed with Esc), their length,
 * the latency and the model: never the code. Events are sent in batches.
 */
(function ($) {
  'use strict';

  var $editor = $('#editor');
  var editor = $editor[0];
  var apiUrl = $editor.data('api-url');
  var debounceMs = Number($editor.data('debounce-ms')) || 0;
  var count = Number($editor.data('suggestions')) || 5;
  var documentId = 'editor-' + Array.prototype.map.call(
    window.crypto.getRandomValues(new Uint8Array(8)), function (b) { return (b + 256).toString(16).slice(1); }
  ).join('');

  var latest = 0;          // id of the newest lookup; older replies are ignored
  var timer = null;        // pending debounced request
  var inflight = null;     // AbortController of the request on the wire
  var shownKey = null;     // snapshot whose suggestions the popup shows
  var dismissedKey = null; // snapshot whose popup was dismissed with Esc
  var accepted = null;     // text of the suggestion being accepted, inserted once at.js is done
  var acceptedRank = 0;    // its place in the list
  var authRequired = $editor.data('auth') === 'required';
  var eventsUrl = $editor.data('events-url') || '';
  var TOKEN_KEY = 'pycc-token';
  var shownInfo = null;    // {model, length, latency} of the suggestions on screen, for events
  var pendingEvents = [];
  var eventsTimer = null;

  function token() {
    try { return window.sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
  }

  function authHeaders(headers) {
    var t = token();
    if (t) { headers.Authorization = 'Bearer ' + t; }
    return headers;
  }

  function askForToken(message) {
    $('#token-message').text(message || '');
    $('#token-form').prop('hidden', false);
    $('#token-input').val('').trigger('focus');
  }

  $('#token-form').on('submit', function (e) {
    e.preventDefault();
    var value = String($('#token-input').val() || '').trim();
    if (!value) { return; }
    window.sessionStorage.setItem(TOKEN_KEY, value);
    $('#token-input').val('');
    $('#token-form').prop('hidden', true);
    setMessage('');
    editor.focus();
  });

  function recordEvent(kind, rank) {
    if (!eventsUrl || !shownInfo) { return; }
    var event = {kind: kind, model: shownInfo.model, length: shownInfo.length,
                 latency_ms: Math.max(0, shownInfo.latency), source: 'editor'};
    if (kind === 'accepted') { event.rank = rank; event.length = Math.min(200, accepted.length); }
    pendingEvents.push(event);
    if (pendingEvents.length >= 20) { sendEvents(); } else if (!eventsTimer) { eventsTimer = setTimeout(sendEvents, 2000); }
  }

  function sendEvents() {
    clearTimeout(eventsTimer);
    eventsTimer = null;
    if (!pendingEvents.length || (authRequired && !token())) { return; }
    fetch(eventsUrl, {method: 'POST', keepalive: true, body: JSON.stringify({events: pendingEvents.splice(0, 100)}),
                      headers: authHeaders({'Content-Type': 'application/json'})}).catch(function () {});
  }
  window.addEventListener('pagehide', sendEvents);

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }

  function snapshot() {
    return {value: editor.value, start: editor.selectionStart, end: editor.selectionEnd};
  }

  function keyOf(snap) {
    return snap.start + ':' + snap.end + ':' + snap.value;
  }

  function isCurrent(snap) {
    return editor.value === snap.value && editor.selectionStart === snap.start && editor.selectionEnd === snap.end;
  }

  function setMessage(text) {
    $('#message').text(text || '');
  }

  function showLatency(roundTripMs, serverMs, model) {
    $('#latency').text(roundTripMs.toFixed(0) + ' ms (server ' + serverMs.toFixed(1) + ' ms)');
    if (model) { $('#model-name').text(model); }
  }

  function formatScore(score) {
    var percent = score * 100;
    return (percent >= 10 ? percent.toFixed(0) : percent.toPrecision(2)) + '%';
  }

  function request(id, snap, callback) {
    if (authRequired && !token()) {  // asked already (and maybe told why): do not ask over it
      if ($('#token-form').prop('hidden')) { askForToken(); }
      callback([]);
      return;
    }
    if (inflight) { inflight.abort(); }
    var controller = inflight = new AbortController();
    var sentAt = performance.now();
    fetch(apiUrl, {
      method: 'POST',
      headers: authHeaders({'Content-Type': 'application/json'}),
      // The text after the caret goes too: suggestions never repeat what is already there (brackets the
      // person typed ahead, the next line). Capped so that text and suffix stay within the API's limit.
      body: JSON.stringify({text: snap.value.slice(0, snap.start), suffix: snap.value.slice(snap.start, snap.start + 2000),
                            n: count, document: documentId}),
      signal: controller.signal
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, status: response.status, body: body}; });
    }).then(function (reply) {
      if (reply.status === 401) {  // no token, or not one of the server's: ask (again)
        window.sessionStorage.removeItem(TOKEN_KEY);
        askForToken('That token was not accepted; try again.');
        callback([]);
        return;
      }
      if (id !== latest || !isCurrent(snap)) { return; }  // stale: never shown
      if (!reply.ok) {
        setMessage(reply.body && reply.body.error ? reply.body.error : 'completion failed');
        callback([]);
        return;
      }
      setMessage('');
      showLatency(performance.now() - sentAt, reply.body.elapsed_ms, reply.body.model);
      shownKey = keyOf(snap);
      var roundTrip = performance.now() - sentAt;
      shownInfo = reply.body.suggestions.length ? {model: reply.body.model, latency: roundTrip,
                                                   length: Math.min(200, reply.body.suggestions[0].text.length)} : null;
      if (shownInfo) { recordEvent('shown'); }
      callback($.map(reply.body.suggestions, function (s, i) {
        return {name: s.text, text: s.text, score: s.score, rank: i};
      }));
    }).catch(function (error) {
      if (error.name !== 'AbortError' && id === latest) { setMessage('cannot reach the server'); }
    }).finally(function () {
      if (inflight === controller) { inflight = null; }
    });
  }

  function lookup(callback) {
    var snap = snapshot();
    var key = keyOf(snap);
    if (key === dismissedKey) { return; }
    if (key === shownKey && $editor.atwho('isSelecting')) { return; }  // e.g. Shift released: keep the choice
    var id = ++latest;
    clearTimeout(timer);
    timer = setTimeout(function () { request(id, snap, callback); }, debounceMs);
  }

  function insertAtCaret(text) {
    editor.focus();
    // execCommand keeps the browser's undo history and fires `input`; fall back where it is gone.
    if (!document.execCommand || !document.execCommand('insertText', false, text)) {
      editor.setRangeText(text, editor.selectionStart, editor.selectionEnd, 'end');
      editor.dispatchEvent(new Event('input', {bubbles: true}));
    }
  }

  // Registered before at.js, so it runs first: Tab indents unless a suggestion is open
  // (then at.js accepts it); Esc remembers the dismissal so the popup stays closed.
  $editor.on('keydown', function (e) {
    if (e.key === 'Tab' && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
      if ($editor.atwho('isSelecting')) { return; }
      e.preventDefault();
      insertAtCaret('    ');
    } else if (e.key === 'Escape') {
      if ($editor.atwho('isSelecting')) { recordEvent('dismissed'); }
      dismissedKey = keyOf(snapshot());
      clearTimeout(timer);
      latest++;
    }
  });

  $editor.atwho({
    at: '',
    alias: 'pycc',
    data: [],
    limit: 10,
    maxLen: Infinity,
    minLen: 0,
    startWithSpace: false,
    highlightFirst: true,
    suffix: '',
    searchKey: 'name',
    displayTimeout: 200,
    scrollDuration: 0,
    lookUpOnClick: true,
    callbacks: {
      // No trigger character: an empty query at the caret, whenever there is text before it.
      matcher: function (flag, subtext) {
        return subtext.length > 0 && editor.selectionStart === editor.selectionEnd ? '' : null;
      },
      filter: function () { return []; },
      remoteFilter: function (query, callback) { lookup(callback); },
      sorter: function (query, items) { return items; },     // already ranked by the model
      highlighter: function (li) { return li; },
      // at.js would write the whole textarea value, which empties the browser's undo
      // history. It is handed nothing to insert; the text goes in afterwards with
      // insertAtCaret, so Ctrl+Z takes an accepted suggestion back like typed text.
      beforeInsert: function (value, $li) {
        accepted = value;
        var item = $li && $li.data('item-data');
        acceptedRank = item && typeof item.rank === 'number' ? item.rank : 0;
        return '';
      },
      tplEval: function (tpl, item, phase) {
        if (phase === 'onInsert') { return item.text; }      // inserted as plain text (beforeInsert)
        return '<li><span class="pycc-text">' + escapeHtml(item.text) + '</span>' +
               '<span class="pycc-score">' + escapeHtml(formatScore(item.score)) + '</span></li>';
      }
    }
  });

  // Any edit (typing, paste, Tab, Enter) makes the shown suggestions stale: hide them
  // now and ask again for the new text.
  $editor.on('input', function () {
    shownKey = null;
    dismissedKey = null;
    $editor.atwho('hide');
    var app = $editor.data('atwho');
    if (app) { app.dispatch({type: 'input'}); }
  });

  $editor.on('inserted-pycc.atwho', function () {
    shownKey = null;
    var text = accepted;
    if (text) { recordEvent('accepted', acceptedRank); }
    accepted = null;
    if (text) { insertAtCaret(text); } else { $editor.trigger('input'); }  // insertAtCaret fires input
  });

  if (authRequired && !token()) { askForToken(); } else { editor.focus(); }
})(jQuery);
