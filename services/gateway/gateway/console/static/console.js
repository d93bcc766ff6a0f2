// Progressive only: every action works without this file.
document.addEventListener("click", function (e) {
  var b = e.target.closest && e.target.closest("button.zoom");
  if (b) { b.classList.toggle("zoomed"); }
});
