// Added to every page by book/page_quality.py. A script whose tag has type="text/x-load-when-near"
// (MathJax's) is neither fetched nor run by the browser: this loads it when one of the elements it
// serves (the CSS selector in its data-near) comes within a screen of the visible part of the
// page. A chapter's formulas are typeset as the reader gets to them, and a page whose first
// formula is screens below does not spend its load on MathJax's start-up.
(function () {
  function loadWhenNear(tag) {
    var served = document.querySelectorAll(tag.getAttribute("data-near"));
    if (!served.length) return;
    function load() {
      var script = document.createElement("script");
      script.src = tag.src;
      tag.replaceWith(script);
    }
    if (!("IntersectionObserver" in window)) {
      load();
      return;
    }
    var observer = new IntersectionObserver(function (entries) {
      if (!entries.some(function (entry) { return entry.isIntersecting; })) return;
      observer.disconnect();
      load();
    }, { rootMargin: "100% 0px 100% 0px" });
    served.forEach(function (element) { observer.observe(element); });
  }
  function start() {
    document.querySelectorAll('script[type="text/x-load-when-near"]').forEach(loadWhenNear);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
