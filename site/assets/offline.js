// From disk (file://) a browser starts no worker from a file, so the theme's search would never run: its worker is
// started from a blob of its source instead, which search/search_worker.js holds (written by the build:
// leaderboard/site/mkdocs_hooks.py). Over http(s) nothing changes. Loaded before the theme's bundle.
(function () {
  if (location.protocol !== "file:" || !window.Worker) return;
  var Native = window.Worker;
  window.Worker = function (url, options) {
    var source = window.LB_SEARCH_WORKER;
    if (source && /\/workers\/search\.[^\/]*\.js$/.test(String(url))) {
      url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    }
    return new Native(url, options);
  };
})();
