/* Autosave for the post form (admin/post_form.html): a few seconds after the author stops
   typing, the form's values go to the server (POST /admin/autosave), which keeps them
   apart from the post: a published post stays as its last Save made it. Reopening the
   editor offers them back. The form works without it. */
(function () {
  "use strict";

  var QUIET = 3000; // ms without typing before an autosave
  var LONGEST = 20000; // ms of continuous typing after which one is made anyway
  var RETRY = 15000; // ms before trying again after a failure
  var OFFLINE = "Not autosaved: you are offline. Your changes are still in the form; " +
    "autosave resumes when the connection is back.";

  function start() {
    var state = document.querySelector(".autosave-state[data-autosave-url]");
    var form = state && state.closest("form");
    if (!state || !form) {
      return;
    }
    var token = form.querySelector("input[name=csrf_token]");
    var version = form.querySelector("input[name=version]");
    var postId = state.getAttribute("data-post-id");
    var timer = null;
    var firstChange = 0;
    var inFlight = false;
    var submitted = false;

    function say(message) {
      if (state.textContent !== message) {
        state.textContent = message;
      }
    }

    // The form's values by name, as text (a checkbox as true/false); never the file.
    function values() {
      var fields = {};
      Array.prototype.forEach.call(form.elements, function (element) {
        var name = element.name;
        if (!name || name === "csrf_token" || name === "version" || element.type === "file" ||
            element.type === "submit" || element.type === "button") {
          return;
        }
        if (element.type === "checkbox") {
          fields[name] = element.checked;
        } else if (element.type === "radio") {
          if (element.checked) {
            fields[name] = element.value;
          }
        } else {
          fields[name] = element.value;
        }
      });
      // The cover as saving reads it: removed, else picked from the library, else the one
      // kept in a hidden input (a file being chosen is not autosaved).
      var key = form.querySelector("input[name=image_key]");
      var pick = form.querySelector("[name=image_pick]");
      var remove = form.querySelector("input[name=image_remove]");
      if (remove && remove.checked) {
        fields.image = "";
      } else if (pick && pick.value) {
        fields.image = pick.value;
      } else if (key) {
        fields.image = key.value;
      }
      delete fields.image_key;
      delete fields.image_remove;
      delete fields.image_pick;
      return fields;
    }

    var last = JSON.stringify(values());

    function clock(iso) {
      var when = new Date(iso);
      return isNaN(when.getTime()) ? "just now" :
        "at " + when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }

    function send() {
      timer = null;
      if (submitted) {
        return;
      }
      if (inFlight) {
        schedule(QUIET);
        return;
      }
      var fields = values();
      var text = JSON.stringify(fields);
      if (text === last) {
        return;
      }
      if (navigator.onLine === false) {
        // Nothing to try until the connection is back ("online" below sends it then).
        say(OFFLINE);
        return;
      }
      inFlight = true;
      fetch(state.getAttribute("data-autosave-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRF-Token": token ? token.value : ""
        },
        body: JSON.stringify({
          post_id: postId ? parseInt(postId, 10) : null,
          kind: state.getAttribute("data-kind") || "post",
          version: version ? version.value : "",
          fields: fields
        })
      })
        .then(function (response) {
          return response.json().then(
            function (answer) { return { ok: response.ok, status: response.status, answer: answer }; },
            function () { return { ok: false, status: response.status, answer: null }; }
          );
        })
        .then(function (result) {
          inFlight = false;
          if (!result.ok) {
            var error = result.answer && result.answer.error;
            say("Not autosaved: " + (error && error.message ? error.message :
              "the server answered " + result.status + ".") + " Save to keep your changes.");
            if (result.status >= 500 || result.status === 429) {
              schedule(RETRY);
            }
            return;
          }
          last = text;
          firstChange = 0;
          say("Changes autosaved " + clock(result.answer.saved_at) + "; Save to apply them.");
        })
        .catch(function () {
          inFlight = false;
          say("Not autosaved: the site did not answer. Trying again in a moment.");
          schedule(RETRY);
        });
    }

    function schedule(delay) {
      if (timer !== null) {
        clearTimeout(timer);
      }
      timer = setTimeout(send, delay);
    }

    function changed() {
      var now = Date.now();
      if (!firstChange) {
        firstChange = now;
      }
      // Quiet typing a few seconds, or a long stretch of it: either way, keep it.
      schedule(now - firstChange >= LONGEST ? 0 : QUIET);
    }

    window.addEventListener("offline", function () {
      if (JSON.stringify(values()) !== last) {
        say(OFFLINE);
      }
    });
    window.addEventListener("online", function () {
      if (JSON.stringify(values()) !== last) {
        schedule(0);
      }
    });
    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    form.addEventListener("submit", function () {
      submitted = true;
      if (timer !== null) {
        clearTimeout(timer);
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
