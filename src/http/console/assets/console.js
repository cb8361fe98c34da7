// jeugdbrug console: progressive enhancement only. Every page works without this script; with it, regions marked
// data-refresh="<seconds>" (queue counts, replay progress) update themselves in place.
'use strict';

(function () {
  var ELEMENT_NODE = 1;

  // Brings `from` (in the page) to what `to` (the page fetched again) says, changing only what differs: a region
  // rewritten wholesale every few seconds took keyboard focus away and made screen readers announce it all again.
  function morph(from, to) {
    if (from.nodeType !== to.nodeType || from.nodeName !== to.nodeName) {
      from.parentNode.replaceChild(document.importNode(to, true), from);
      return;
    }
    if (from.nodeType !== ELEMENT_NODE) {
      if (from.nodeValue !== to.nodeValue) {
        from.nodeValue = to.nodeValue;
      }
      return;
    }
    Array.prototype.slice.call(from.attributes).forEach(function (a) {
      if (!to.hasAttribute(a.name)) {
        from.removeAttribute(a.name);
      }
    });
    Array.prototype.slice.call(to.attributes).forEach(function (a) {
      if (from.getAttribute(a.name) !== a.value) {
        from.setAttribute(a.name, a.value);
      }
    });
    var ours = Array.prototype.slice.call(from.childNodes);
    var theirs = Array.prototype.slice.call(to.childNodes);
    theirs.forEach(function (child, i) {
      if (i < ours.length) {
        morph(ours[i], child);
      } else {
        from.appendChild(document.importNode(child, true));
      }
    });
    ours.slice(theirs.length).forEach(function (child) {
      from.removeChild(child);
    });
  }

  // Focus back where it was when the element that had it was replaced (a count that became a link): on the element
  // with the same id, or the link to the same place, in the region's new content.
  function refocus(region, had) {
    if (!had || document.contains(had)) {
      return;
    }
    var href = had.getAttribute('href');
    var same =
      (had.id && document.getElementById(had.id)) ||
      Array.prototype.find.call(region.querySelectorAll('[href]'), function (el) {
        return href !== null && el.getAttribute('href') === href;
      });
    if (same) {
      same.focus();
    }
  }

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
          if (!next.isEqualNode(region)) {
            var had = region.contains(document.activeElement) ? document.activeElement : null;
            morph(region, next);
            refocus(region, had);
          }
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
