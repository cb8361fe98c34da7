// jeugdbrug console: progressive enhancement only. Every page works without this script; with it, regions marked
// data-refresh="<seconds>" (queue counts, replay progress) update themselves in place.
'use strict';

(function () {
  function refresh(region) {
    var seconds = Number(region.getAttribute('data-refresh'));
    if (!(seconds > 0) || !region.id) {
      return;
    }
    window.setTimeout(function () {
      fetch(window.location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
        .then(function (res) {
          return res.ok ? res.text() : Promise.reject(new Error('HTTP ' + res.status));
        })
        .then(function (text) {
          var next = new DOMParser().parseFromString(text, 'text/html').getElementById(region.id);
          if (!next) {
            return;
          }
          region.innerHTML = next.innerHTML;
          if (next.hasAttribute('data-refresh')) {
            refresh(region);
          } else {
            region.removeAttribute('data-refresh');
          }
        })
        .catch(function () {
          // Signed out or offline: leave the last known figures and stop refreshing.
        });
    }, seconds * 1000);
  }

  document.addEventListener('DOMContentLoaded', function () {
    document.querySelectorAll('[data-refresh]').forEach(refresh);
  });
})();
