// Tell require.js where the book's own copy of @jupyter-widgets/html-manager lives,
// so that embed-amd.js finds its modules and Font Awesome files here, not on a CDN.
// Loaded after require.js and before embed-amd.js (see nb_ipywidgets_js in _config.yml).
(function () {
  var here = document.currentScript.src.replace(/\/[^\/]*$/, "");
  require.config({
    paths: {
      "@jupyter-widgets": here,
      "@jupyter-widgets/html-manager/dist": here,
    },
  });
})();
