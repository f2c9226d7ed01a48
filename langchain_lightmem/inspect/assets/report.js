// lightmem inspect: search, memory filters, relative times. Text from memory is only ever set with textContent.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // -- search --------------------------------------------------------------------------------------------
  var form = document.getElementById("search-form");
  var input = document.getElementById("query");
  var note = document.getElementById("search-note");
  var results = document.getElementById("search-results");

  function showHits(query, hits, source) {
    results.textContent = "";
    note.textContent = hits.length + " memories for \u201c" + query + "\u201d (" + source + ")";
    hits.forEach(function (hit) {
      var li = el("li", "hit status-" + hit.status);
      li.setAttribute("data-entry-id", hit.id);
      var bar = el("span", "scorebar");
      bar.style.width = Math.round(Math.max(0, Math.min(1, hit.score)) * 60) + "px";
      li.appendChild(bar);
      li.appendChild(el("span", "score", hit.score.toFixed(3)));
      var anchor = data.anchors[hit.id];
      var text = anchor ? el("a", "hit-text", hit.text) : el("span", "hit-text", hit.text);
      if (anchor) text.setAttribute("href", "#" + anchor);
      li.appendChild(text);
      li.appendChild(el("small", null, " " + hit.when + (hit.pending ? " \u00b7 pending" : "")));
      results.appendChild(li);
    });
  }

  function search(query) {
    var key = query.trim().toLowerCase();
    if (!key) return;
    var found = data.queries[key];
    if (found) {
      showHits(found.query, found.hits, "precomputed when the report was made");
      return;
    }
    if (data.live) {
      note.textContent = "searching\u2026";
      fetch("search?q=" + encodeURIComponent(query) + "&k=" + data.k, { headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
        .then(function (r) {
          if (!r.ok) { results.textContent = ""; note.textContent = r.body.error || "search failed"; return; }
          showHits(query, r.body.hits, "live");
        })
        .catch(function (err) { note.textContent = "search failed: " + err; });
      return;
    }
    results.textContent = "";
    note.textContent = "\u201c" + query + "\u201d was not precomputed in this static page: pick an example, or run " +
      "lightmem serve for live search.";
  }

  if (form) {
    form.addEventListener("submit", function (event) { event.preventDefault(); search(input.value); });
    document.querySelectorAll("button.example").forEach(function (button) {
      button.addEventListener("click", function () {
        input.value = button.getAttribute("data-query");
        search(input.value);
      });
    });
  }

  // -- memory filters --------------------------------------------------------------------------------------
  var status = "all";
  var filterText = document.getElementById("memory-filter");
  function applyFilters() {
    var words = (filterText ? filterText.value : "").toLowerCase().split(/\s+/).filter(Boolean);
    document.querySelectorAll("#memory-list .memory").forEach(function (card) {
      var text = card.querySelector(".text").textContent.toLowerCase();
      var match = (status === "all" || card.getAttribute("data-status") === status) &&
        words.every(function (w) { return text.indexOf(w) >= 0; });
      card.classList.toggle("hidden", !match);
    });
    document.querySelectorAll("button.filter").forEach(function (b) {
      b.classList.toggle("active", b.getAttribute("data-status") === status);
    });
  }
  document.querySelectorAll("button.filter").forEach(function (button) {
    button.addEventListener("click", function () { status = button.getAttribute("data-status"); applyFilters(); });
  });
  if (filterText) filterText.addEventListener("input", applyFilters);
  applyFilters();

  // -- relative times (from now, as the page is read) --------------------------------------------------------
  document.querySelectorAll(".relative[data-epoch]").forEach(function (node) {
    var seconds = Number(node.getAttribute("data-epoch")) - Date.now() / 1000;
    var abs = Math.abs(seconds);
    var text = abs < 90 ? Math.round(abs) + " s" : abs < 5400 ? Math.round(abs / 60) + " min" :
      abs < 172800 ? Math.round(abs / 3600) + " h" : Math.round(abs / 86400) + " days";
    node.textContent = seconds >= 0 ? "in " + text : text + " ago";
  });
})();
