/* The post form's editor (admin/post_form.html): a live preview of the body as the site
   renders it, its word count and reading time, and a question before leaving the page with
   unsaved changes. The form works without it: it only adds to what the server sends. */
(function () {
  "use strict";

  var DELAY = 350; // ms of quiet typing before the preview is asked for again

  function start() {
    var editor = document.querySelector(".editor[data-preview-url]");
    var form = editor && editor.closest("form");
    var body = document.getElementById("post-body");
    var preview = document.getElementById("post-preview");
    if (!editor || !form || !body || !preview) {
      return;
    }
    var region = document.getElementById("post-preview-region");
    var state = editor.querySelector(".editor__preview-state");
    var words = editor.querySelector(".editor__words");
    var minutes = editor.querySelector(".editor__minutes");
    var toggle = editor.querySelector(".editor__toggle");
    var token = form.querySelector("input[name=csrf_token]");
    var title = document.getElementById("post-title");
    var slug = document.getElementById("post-slug");
    var status = document.getElementById("post-status");
    var timer = null;
    var asked = 0; // the latest request's number: older answers are dropped
    var shown = body.value;

    function say(message) {
      if (state && state.textContent !== message) {
        state.textContent = message;
      }
    }

    function showStats(count, readingTime) {
      if (words) {
        words.textContent = count + (count === 1 ? " word" : " words");
      }
      if (minutes) {
        minutes.textContent = readingTime + " min read";
      }
    }

    var inFlight = false; // one request at a time: a slow answer is not piled upon
    var again = false;

    function done() {
      inFlight = false;
      if (again) {
        again = false;
        schedule();
      }
    }

    function refresh() {
      timer = null;
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      var text = body.value;
      var number = ++asked;
      editor.classList.add("editor--busy");
      fetch(editor.getAttribute("data-preview-url"), {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRF-Token": token ? token.value : ""
        },
        body: JSON.stringify({
          body: text,
          title: title ? title.value : "",
          slug: slug ? slug.value : "",
          status: status ? status.value : "draft",
          kind: editor.getAttribute("data-kind") || "post"
        })
      })
        .then(function (response) {
          return response.json().then(
            function (answer) { return { ok: response.ok, status: response.status, answer: answer }; },
            function () { return { ok: false, status: response.status, answer: null }; }
          );
        })
        .then(function (result) {
          done();
          if (number !== asked) {
            return;
          }
          editor.classList.remove("editor--busy");
          if (!result.ok) {
            var error = result.answer && result.answer.error;
            say("The preview could not be updated: " +
                (error && error.message ? error.message : "the server answered " + result.status + "."));
            return;
          }
          // The server's HTML, already sanitized as every post's is.
          preview.innerHTML = result.answer.html;
          shown = text;
          showStats(result.answer.words, result.answer.reading_time);
          say("");
        })
        .catch(function () {
          done();
          if (number === asked) {
            editor.classList.remove("editor--busy");
            say("The preview could not be updated: the site did not answer.");
          }
        });
    }

    function schedule() {
      if (timer !== null) {
        clearTimeout(timer);
      }
      timer = setTimeout(refresh, DELAY);
    }

    body.addEventListener("input", function () {
      if (body.value !== shown) {
        schedule();
      }
    });

    if (toggle && region) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        var open = toggle.getAttribute("aria-pressed") !== "true";
        toggle.setAttribute("aria-pressed", open ? "true" : "false");
        region.hidden = !open;
        editor.classList.toggle("editor--no-preview", !open);
      });
    }

    // Unsaved changes: what the form would send now, against what it held at first.
    function snapshot() {
      var parts = [];
      var data = new FormData(form);
      data.forEach(function (value, name) {
        if (name === "csrf_token") {
          return;
        }
        parts.push(name + "=" + (typeof value === "string" ? value : value.name + ":" + value.size));
      });
      return parts.join("&");
    }

    var saved = snapshot();
    var leaving = false;
    form.addEventListener("submit", function () {
      leaving = true;
    });
    window.addEventListener("beforeunload", function (event) {
      if (leaving || snapshot() === saved) {
        return;
      }
      event.preventDefault();
      event.returnValue = ""; // older browsers ask only when it is set
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
