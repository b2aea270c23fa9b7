// reportc preview: wait for the next build, then reload this page.
(function () {
  var generation = Number(document.currentScript.dataset.generation);
  function poll() {
    fetch("/__reportc/wait?generation=" + generation, { cache: "no-store" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        if (d.generation > generation) { location.reload(); } else { poll(); }
      })
      .catch(function () { setTimeout(poll, 1000); });
  }
  poll();
})();
