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

  // Says, above the region, that its figures are no longer live (a refresh failed), or takes that back.
  function staleNotice(region, show) {
    var id = region.id + '-stale';
    var shown = document.getElementById(id);
    if (!show) {
      if (shown) {
        shown.parentNode.removeChild(shown);
      }
      return;
    }
    if (shown) {
      return;
    }
    var notice = document.createElement('p');
    notice.id = id;
    notice.className = 'notice error';
    notice.setAttribute('role', 'alert');
    notice.textContent = region.getAttribute('data-stale') || 'These figures are no longer being updated.';
    region.parentNode.insertBefore(notice, region);
  }

  // The idle warning (#idle-warning, see layout.ts): shown `data-warn-after` seconds after the page loaded, with the
  // focus on its "stay signed in" button, which renews the session in the background (the form's POST, CSRF token
  // and all) so nothing typed on the page is lost. If the session ends all the same, the box says so and offers the
  // sign-in page; the page itself stays where it is.
  var idle = { ended: function () {} };

  function idleWarning(box) {
    var form = box.querySelector('form');
    var button = form.querySelector('button');
    var title = box.querySelector('h2');
    var text = box.querySelector('#idle-warning-text');
    var ended = box.querySelector('.idle-ended');
    var lead = Number(box.getAttribute('data-ends-after')) - Number(box.getAttribute('data-warn-after'));
    var timers = [];
    var returnTo = null;

    function schedule(secondsLeft) {
      timers.forEach(window.clearTimeout);
      timers = [
        window.setTimeout(show, Math.max(0, secondsLeft - lead) * 1000),
        window.setTimeout(end, secondsLeft * 1000),
      ];
    }
    function show() {
      returnTo = document.activeElement;
      box.hidden = false;
      button.focus();
    }
    function end() {
      timers.forEach(window.clearTimeout);
      title.textContent = box.getAttribute('data-ended-title');
      text.hidden = true;
      form.hidden = true;
      ended.hidden = false;
      box.hidden = false;
      ended.querySelector('a').focus();
    }
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      fetch(form.action, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
        body: new window.URLSearchParams(new window.FormData(form)),
      })
        .then(function (res) {
          return res.ok && !res.redirected ? res.json() : Promise.reject(new Error('HTTP ' + res.status));
        })
        .then(function (answer) {
          box.hidden = true;
          if (returnTo && document.contains(returnTo) && returnTo !== document.body) {
            returnTo.focus();
          } else {
            document.getElementById('main').focus();
          }
          schedule(Number(answer.secondsLeft));
        })
        .catch(end);
    });
    idle.ended = end;
    schedule(Number(box.getAttribute('data-ends-after')));
  }

  // Fetches the page again every `data-refresh` seconds and brings the region up to date. The request says it is a
  // background refresh (X-Console-Refresh), so it does not count as the user's activity: an unattended page does not
  // keep the session from ending after its idle timeout. When the session has ended the server sends the request to
  // the sign-in page: this stops refreshing and says so in the idle warning's box, without leaving the page unasked
  // (WCAG 2.2.1). A refresh that fails otherwise says the figures are stale and tries again.
  function refresh(region) {
    var seconds = Number(region.getAttribute('data-refresh'));
    if (!(seconds > 0) || !region.id) {
      return;
    }
    window.setTimeout(function () {
      fetch(window.location.href, {
        credentials: 'same-origin',
        headers: { Accept: 'text/html', 'X-Console-Refresh': '1' },
      })
        .then(function (res) {
          if (res.redirected && new window.URL(res.url).pathname === '/console/sign-in') {
            idle.ended();
            return null;
          }
          return res.ok ? res.text() : Promise.reject(new Error('HTTP ' + res.status));
        })
        .then(function (text) {
          if (text === null) {
            return;
          }
          var next = new DOMParser().parseFromString(text, 'text/html').getElementById(region.id);
          if (!next) {
            return Promise.reject(new Error('no ' + region.id + ' in the page'));
          }
          staleNotice(region, false);
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
          // Offline, or the server not answering: the last known figures stay, marked as such, until a refresh works.
          staleNotice(region, true);
          refresh(region);
        });
    }, seconds * 1000);
  }

  // A field with a pattern says, in the page's language, what the pattern asks (its title, e.g. "9 cijfers"),
  // instead of the browser's bare "Please match the requested format.".
  function explainPattern(input) {
    function check() {
      input.setCustomValidity('');
      if (input.validity.patternMismatch) {
        input.setCustomValidity(input.title);
      }
    }
    input.addEventListener('input', check);
    check();
  }

  // A BSN: 9 digits (written with spaces, dots or hyphens or without) passing the 11-proef.
  function looksLikeBsn(value) {
    var digits = value.replace(/[\s.-]/g, '');
    if (!/^[0-9]{9}$/.test(digits) || digits === '000000000') {
      return false;
    }
    var sum = 0;
    for (var i = 0; i < 8; i++) {
      sum += (9 - i) * Number(digits[i]);
    }
    return (sum - Number(digits[8])) % 11 === 0;
  }

  // A search field of a GET form (the referral number) where a BSN would go into the address, browser history and
  // proxy logs: refused before the form is sent, in the field's own words (data-bsn-refusal). The server refuses it
  // too, for a browser without this script.
  function refuseBsn(input) {
    input.addEventListener('input', function () {
      input.setCustomValidity('');
    });
    input.form.addEventListener('submit', function (event) {
      if (looksLikeBsn(input.value)) {
        event.preventDefault();
        input.setCustomValidity(input.getAttribute('data-bsn-refusal'));
        input.reportValidity();
      }
    });
  }

  document.addEventListener('DOMContentLoaded', function () {
    var box = document.getElementById('idle-warning');
    if (box) {
      idleWarning(box);
    }
    document.querySelectorAll('[data-refresh]').forEach(refresh);
    document.querySelectorAll('input[pattern][title]').forEach(explainPattern);
    document.querySelectorAll('input[data-bsn-refusal]').forEach(refuseBsn);
  });
})();
