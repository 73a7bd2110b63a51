// What the book adds to @jupyter-widgets/html-manager's embed.js on a page with widgets, and how
// the page loads it (nb_ipywidgets_js in _config.yml); served by the book itself.
(function () {
  // 1. Every control gets an accessible name, its widget's description. ipywidgets ties the
  //    description to a <select> or <input> with <label for>, but a slider's handle (noUiSlider,
  //    role="slider") and a row of toggle buttons have no name; a screen reader would announce
  //    "slider" alone. Toggle buttons also say which one is chosen (aria-pressed).
  //    A control without a description is named by its tooltip (embedlab.widgets sets one).
  function description(widget) {
    var label = widget.querySelector(":scope > .widget-label");
    var tip = widget.querySelector("[title]:not(.widget-label)");
    return (label && label.textContent.trim()) || widget.getAttribute("title") || (tip && tip.title) || "";
  }
  function name(root) {
    root.querySelectorAll(".widget-slider .noUi-handle:not([aria-label])").forEach(function (handle) {
      var text = description(handle.closest(".widget-slider"));
      if (text) handle.setAttribute("aria-label", text);
    });
    root.querySelectorAll(".widget-toggle-buttons").forEach(function (widget) {
      var group = widget.querySelector(".widget-toggle-button") ? widget : null;
      if (group && !group.hasAttribute("role")) {
        group.setAttribute("role", "group");
        if (description(widget)) group.setAttribute("aria-label", description(widget));
      }
      widget.querySelectorAll("button.widget-toggle-button").forEach(function (button) {
        button.setAttribute("aria-pressed", button.classList.contains("mod-active") ? "true" : "false");
      });
    });
    root.querySelectorAll(".jupyter-widgets select:not([aria-label]), .jupyter-widgets input:not([aria-label])").forEach(function (control) {
      if (!control.labels || !Array.prototype.some.call(control.labels, function (l) { return l.textContent.trim(); })) {
        var widget = control.closest(".jupyter-widgets");
        var text = widget ? description(widget) : "";
        if (text) control.setAttribute("aria-label", text);
      }
    });
  }
  // Watched from the first widget drawn on (not while the page is parsed: the parser's every
  // node would be a mutation to look at).
  var watching = false;
  function watchNames() {
    if (watching) return;
    watching = true;
    var pending = false;
    new MutationObserver(function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () { pending = false; name(document); });
    }).observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["class"] });
  }

  // 2. Each widget is drawn when it comes near the screen, not every widget of the page at once.
  //    embed.js (1.9 MB) draws every widget view of the page on the load event, 0.3-0.5 s of
  //    work on a chapter before the reader can scroll, most of it for widgets far below; and the
  //    page's widget state (every frame of every widget) is most of its bytes. So the page loads
  //    neither itself: book/page_quality.py moves the state to a file of its own, named by a
  //    <script type="application/x-embedlab-widget-state" src=...> that the browser does not
  //    fetch, and this script loads the state and embed.js when the first widget comes within a
  //    screen of the visible part of the page, and draws the widgets one group at a time as they
  //    come that near (IntersectionObserver).
  //    embed.js exposes no API, only a load-event listener that draws every view whose model is
  //    in the page's widget state; that listener is kept (it is registered while embed.js runs)
  //    and called once per group, with a state that holds only that group's models and with only
  //    that group's views left for it to find. A group is the widgets that refer to one another
  //    (a VBox, its controls, its stacks and frames, the jslinks between them); layout and style
  //    models, which one object can serve for many widgets, join no groups. The placeholders of
  //    book/page_quality.py keep each widget's place meanwhile.
  var VIEW = "application/vnd.jupyter.widget-view+json";
  var STATE = "application/vnd.jupyter.widget-state+json";
  var STATE_FILE = "application/x-embedlab-widget-state";
  var WAITING = "application/x-embedlab-widget-view-waiting+json";
  var embedUrl = document.currentScript.src.replace(/widgets-page\.js(\?.*)?$/, "embed.js");

  function loadScript(url, whileRunning) {
    return new Promise(function (resolve, reject) {
      var tag = document.createElement("script");
      tag.onload = function () { resolve(tag); };
      tag.onerror = function () { reject(new Error("could not load " + url)); };
      tag.src = url;
      if (whileRunning) whileRunning(tag);
      document.head.appendChild(tag);
    });
  }

  function loadEmbed() {
    var drawEvery = null;
    var own = Object.getOwnPropertyDescriptor(window, "addEventListener");
    function keepListener(tag) {
      window.addEventListener = function (type, listener) {
        if (type === "load" && document.currentScript === tag) {
          drawEvery = listener;
          return undefined;
        }
        return EventTarget.prototype.addEventListener.apply(this, arguments);
      };
    }
    function restore() {
      if (own) Object.defineProperty(window, "addEventListener", own);
      else delete window.addEventListener;
    }
    return loadScript(embedUrl, keepListener).then(function () {
      restore();
      if (!drawEvery) throw new Error(embedUrl + " registered no widget renderer");
      return drawEvery;
    }, function (error) {
      restore();
      throw error;
    });
  }

  function references(value, found) {
    if (typeof value === "string") {
      if (value.lastIndexOf("IPY_MODEL_", 0) === 0) found.push(value.slice(10));
    } else if (Array.isArray(value)) {
      value.forEach(function (item) { references(item, found); });
    } else if (value && typeof value === "object") {
      Object.keys(value).forEach(function (key) { references(value[key], found); });
    }
    return found;
  }

  function grouped(state) {
    var models = state.state;
    var parent = {};
    function root(id) {
      while (parent[id] !== id) id = parent[id] = parent[parent[id]];
      return id;
    }
    function shared(id) { return /(Layout|Style)Model$/.test(models[id].model_name); }
    var ids = Object.keys(models);
    ids.forEach(function (id) { parent[id] = id; });
    var uses = {};
    ids.forEach(function (id) {
      uses[id] = references(models[id].state, []).filter(function (other) { return other in models; });
      if (shared(id)) return;
      uses[id].forEach(function (other) {
        if (!shared(other)) parent[root(other)] = root(id);
      });
    });
    var groups = {};
    ids.forEach(function (id) {
      if (shared(id)) return;
      var group = groups[root(id)] = groups[root(id)] || { models: {}, drawn: false };
      group.models[id] = models[id];
      uses[id].forEach(function (other) { if (shared(other)) group.models[other] = models[other]; });
    });
    return { version_major: state.version_major, version_minor: state.version_minor, groups: groups, root: root };
  }

  var loading = null;  // the page's widget groups and embed.js's listener, loaded for the first widget
  function loadPage(stateFile) {
    if (!loading) {
      var state = loadScript(stateFile.src).then(function () {
        var loaded = window.embedlabWidgetState;
        delete window.embedlabWidgetState;
        return grouped(loaded);
      });
      loading = Promise.all([state, loadEmbed()]);
    }
    return loading;
  }

  function draw(view, stateFile) {
    loadPage(stateFile).then(function (loaded) {
      var page = loaded[0], drawEvery = loaded[1];
      var group = page.groups[page.root(JSON.parse(view.textContent).model_id)];
      if (!group || group.drawn) return;
      group.drawn = true;
      watchNames();
      var state = document.createElement("script");
      state.type = STATE;
      state.textContent = JSON.stringify({ version_major: page.version_major, version_minor: page.version_minor, state: group.models });
      document.querySelectorAll('script[type="' + WAITING + '"]').forEach(function (tag) {
        if (JSON.parse(tag.textContent).model_id in group.models) tag.type = VIEW;
      });
      document.body.appendChild(state);
      try {
        drawEvery();  // reads the state now; finds the views once the models are made
      } finally {
        state.remove();
      }
    });
  }

  function start() {
    var stateFile = document.querySelector('script[type="' + STATE_FILE + '"]');
    if (!stateFile) return;
    var views = document.querySelectorAll('script[type="' + VIEW + '"]');
    views.forEach(function (view) { view.type = WAITING; });
    if (!("IntersectionObserver" in window)) {
      views.forEach(function (view) { draw(view, stateFile); });
      return;
    }
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        observer.unobserve(entry.target);
        entry.target.querySelectorAll(':scope > script[type="' + WAITING + '"]').forEach(function (view) {
          draw(view, stateFile);
        });
      });
    }, { rootMargin: "100% 0px 100% 0px" });
    views.forEach(function (view) { observer.observe(view.parentElement); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
