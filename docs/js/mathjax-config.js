// MathJax 3 set-up for pymdownx.arithmatex (generic mode: \( \) inline, \[ \] display).
// Loaded before MathJax itself (see mkdocs.yml), not async.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  }
};

// Material's instant navigation swaps the page content without a reload: typeset the formulas of
// the new content that are still raw TeX. The first page is typeset by MathJax's own start-up; the
// guard skips a call made before MathJax exists. (Clearing MathJax's output cache here would drop
// the CSS of the glyphs already on the page and leave its formulas blank.)
document$.subscribe(() => {
  if (!window.MathJax || !MathJax.startup || !MathJax.startup.promise) return;
  MathJax.startup.promise = MathJax.startup.promise.then(() => {
    const raw = [...document.querySelectorAll(".arithmatex")].filter(el => !el.querySelector("mjx-container"));
    if (!raw.length) return;
    MathJax.typesetClear();
    MathJax.texReset();
    return MathJax.typesetPromise(raw);
  });
});
