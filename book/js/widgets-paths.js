// Loaded after require.js and before embed-amd.js (see nb_ipywidgets_js in _config.yml).
(function () {
  // 1. Tell require.js where the book's own copy of @jupyter-widgets/html-manager lives, so
  //    that embed-amd.js finds its modules and Font Awesome files here, not on a CDN.
  var here = document.currentScript.src.replace(/\/[^\/]*$/, "");
  require.config({
    paths: {
      "@jupyter-widgets": here,
      "@jupyter-widgets/html-manager/dist": here,
    },
  });

  // 2. The HTML manager typesets widget labels with MathJax 2's API, MathJax.Hub.Queue; the
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
})();
