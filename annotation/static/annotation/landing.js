/* Landing page: h / s start a dialogue in that track. */
(function () {
  "use strict";
  const { shortcutsOff } = window.Annotator;
  document.addEventListener("keydown", (event) => {
    if (shortcutsOff(event) || !/^[a-z]$/.test(event.key)) return;
    const form = document.querySelector('form[data-start-track^="' + event.key + '"]');
    if (form) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
})();
