// What the book adds to @jupyter-widgets/html-manager's embed.js on a page with widgets.
// Loaded just before embed.js (see nb_ipywidgets_js in _config.yml); served by the book itself.
(function () {
  // 1. The HTML manager typesets widget labels with MathJax 2's API, MathJax.Hub.Queue; the
  //    book loads MathJax 3, which has no Hub, so every label threw a TypeError. Whenever
  //    window.MathJax is set (first the config object, then MathJax 3 itself), give it a Hub
  //    whose Queue typesets the element with MathJax 3's typesetPromise once MathJax is ready.
  function withHub(mathjax) {
    if (mathjax && typeof mathjax === "object" && !mathjax.Hub) {
      mathjax.Hub = {
        Queue: function (command) {
          var element = command[2];
          var ready = mathjax.startup && mathjax.startup.promise ? mathjax.startup.promise : Promise.resolve();
          ready.then(function () {
            if (mathjax.typesetPromise) return mathjax.typesetPromise([element]);
          });
        },
      };
    }
    return mathjax;
  }
  var mathjax = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return mathjax; },
    set: function (value) { mathjax = withHub(value); },
  });

  // 2. Every control gets an accessible name, its widget's description. ipywidgets ties the
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
  var pending = false;
  new MutationObserver(function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; name(document); });
  }).observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["class"] });
})();
