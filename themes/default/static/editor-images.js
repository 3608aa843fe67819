/* Images in the post form (admin/post_form.html): upload by button, drag and drop or
   paste into the body, or pick from the media library; each asks for alt text, then
   inserts ![alt text](media:<hash>) where the cursor was. The cover can be picked from
   the library too. Uploads go to POST /admin/media/upload, the library comes from
   GET /admin/media/choices (both JSON). Without JavaScript the form still works: the
   cover has a plain select, and the Markdown can be written by hand. */
(function () {
  "use strict";

  function start() {
    var editor = document.querySelector(".editor[data-upload-url]");
    var body = document.getElementById("post-body");
    var altDialog = document.getElementById("image-alt-dialog");
    var picker = document.getElementById("image-picker");
    if (!editor || !body || !altDialog || !picker || typeof altDialog.showModal !== "function") {
      return;
    }
    var form = editor.closest("form");
    var token = form && form.querySelector("input[name=csrf_token]");
    var tools = editor.querySelector(".editor__images");
    var fileInput = editor.querySelector(".editor__file");
    var altInput = document.getElementById("image-alt");
    var altState = altDialog.querySelector(".image-dialog__state");
    var insertButton = altDialog.querySelector(".image-dialog__insert");
    var pickerState = picker.querySelector(".image-dialog__state");
    var pickerList = picker.querySelector(".image-picker__list");
    var moreButton = picker.querySelector(".image-picker__more");
    var coverSelect = document.getElementById("post-image-pick");
    var coverButton = document.querySelector(".editor__cover-library");

    var queue = []; // images waiting for their alt text, one dialog at a time
    var current = null; // {image: answer or null, upload: promise, at: [start, end]}

    function say(element, message) {
      if (element) {
        element.textContent = message;
      }
    }

    function markdownFor(hash, alt) {
      var text = alt.replace(/\s+/g, " ").trim().replace(/([\\\[\]])/g, "\\$1");
      return "![" + text + "](media:" + hash + ")";
    }

    // The image as a paragraph of its own, where the cursor was when it was asked for.
    function insert(markdown, at) {
      var before = body.value.slice(0, at[0]);
      var after = body.value.slice(at[1]);
      var lead = before === "" || /\n\n$/.test(before) ? "" : /\n$/.test(before) ? "\n" : "\n\n";
      var tail = after === "" || /^\n\n/.test(after) ? "" : /^\n/.test(after) ? "\n" : "\n\n";
      body.setRangeText(lead + markdown + tail, at[0], at[1], "end");
      body.focus();
      // editor.js listens for input: the preview follows.
      body.dispatchEvent(new Event("input", { bubbles: true }));
    }

    function errorOf(result) {
      var error = result.answer && result.answer.error;
      return error && error.message ? error.message : "the server answered " + result.status + ".";
    }

    function request(url, options) {
      options.credentials = "same-origin";
      options.headers = Object.assign({ Accept: "application/json" }, options.headers || {});
      return fetch(url, options).then(function (response) {
        return response.json().then(
          function (answer) { return { ok: response.ok, status: response.status, answer: answer }; },
          function () { return { ok: false, status: response.status, answer: null }; }
        );
      });
    }

    function upload(file) {
      var data = new FormData();
      data.append("file", file, file.name || "image");
      return request(editor.getAttribute("data-upload-url"), {
        method: "POST",
        headers: { "X-CSRF-Token": token ? token.value : "" },
        body: data
      });
    }

    function showPreview(thumbnail) {
      var old = altDialog.querySelector(".image-dialog__preview");
      if (old) {
        old.remove();
      }
      if (!thumbnail) {
        return;
      }
      var image = document.createElement("img");
      image.className = "image-dialog__preview";
      image.alt = "";
      image.src = thumbnail;
      altState.after(image);
    }

    function next() {
      if (current !== null || queue.length === 0) {
        return;
      }
      current = queue.shift();
      altInput.value = "";
      showPreview(current.image ? current.image.thumbnail : null);
      insertButton.disabled = current.image === null;
      say(altState, current.image ? "" : "Uploading " + current.name + "…");
      altDialog.returnValue = "";
      altDialog.showModal();
      altInput.focus();
      var asked = current;
      if (asked.image === null) {
        asked.upload.then(
          function (result) {
            if (current !== asked) {
              return;
            }
            if (!result.ok) {
              say(altState, "The image was not added: " + errorOf(result));
              return;
            }
            asked.image = result.answer;
            showPreview(result.answer.thumbnail);
            insertButton.disabled = false;
            say(altState, "Uploaded.");
          },
          function () {
            if (current === asked) {
              say(altState, "The image was not added: the site did not answer.");
            }
          }
        );
      }
    }

    altDialog.addEventListener("close", function () {
      var done = current;
      current = null;
      if (done && done.image && altDialog.returnValue === "insert") {
        insert(markdownFor(done.image.hash, altInput.value), done.at);
      } else {
        body.focus();
      }
      next();
    });

    function selection() {
      return [body.selectionStart, body.selectionEnd];
    }

    function addFiles(files) {
      var at = selection();
      Array.prototype.forEach.call(files, function (file) {
        if (!/^image\//.test(file.type)) {
          return;
        }
        queue.push({ image: null, upload: upload(file), name: file.name || "the image", at: at });
      });
      next();
    }

    function imageFiles(transfer) {
      if (!transfer || !transfer.files) {
        return [];
      }
      return Array.prototype.filter.call(transfer.files, function (file) {
        return /^image\//.test(file.type);
      });
    }

    body.addEventListener("paste", function (event) {
      var files = imageFiles(event.clipboardData);
      if (files.length) {
        event.preventDefault();
        addFiles(files);
      }
    });
    body.addEventListener("dragover", function (event) {
      if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0) {
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
      }
    });
    body.addEventListener("drop", function (event) {
      var files = imageFiles(event.dataTransfer);
      if (files.length) {
        event.preventDefault();
        addFiles(files);
      }
    });

    if (tools && fileInput) {
      tools.hidden = false;
      editor.querySelector(".editor__upload").addEventListener("click", function () {
        fileInput.click();
      });
      fileInput.addEventListener("change", function () {
        addFiles(fileInput.files);
        fileInput.value = "";
      });
      editor.querySelector(".editor__library").addEventListener("click", function () {
        openPicker("text");
      });
    }

    // -- the library picker ------------------------------------------------------------
    var mode = "text";
    var after = null;
    var opener = null;

    function chosen(image) {
      picker.close();
      if (mode === "cover") {
        if (coverSelect) {
          var option = Array.prototype.find.call(coverSelect.options, function (item) {
            return item.value === image.hash;
          });
          if (!option) {
            option = new Option(image.name + " (" + image.width + "×" + image.height + ")", image.hash);
            coverSelect.add(option, 1);
          }
          coverSelect.value = image.hash;
          coverSelect.dispatchEvent(new Event("change", { bubbles: true }));
          say(pickerState, "");
          (coverButton || coverSelect).focus();
        }
        return;
      }
      queue.push({ image: image, upload: null, name: image.name, at: selection() });
      next();
    }

    function load() {
      say(pickerState, "Loading…");
      moreButton.hidden = true;
      var url = editor.getAttribute("data-choices-url") + (after ? "?after=" + after : "");
      request(url, { method: "GET" }).then(
        function (result) {
          if (!result.ok) {
            say(pickerState, "The library could not be shown: " + errorOf(result));
            return;
          }
          var first = null;
          result.answer.images.forEach(function (image) {
            var item = document.createElement("li");
            var button = document.createElement("button");
            button.type = "button";
            button.className = "image-picker__choice";
            var thumbnail = document.createElement("img");
            thumbnail.src = image.thumbnail;
            thumbnail.alt = "";
            thumbnail.width = 160;
            thumbnail.height = Math.max(1, Math.round((160 * image.height) / image.width));
            var label = document.createElement("span");
            label.textContent = image.name + " (" + image.width + "×" + image.height + ")";
            button.append(thumbnail, label);
            button.addEventListener("click", function () {
              chosen(image);
            });
            item.append(button);
            pickerList.append(item);
            first = first || button;
          });
          after = result.answer.next;
          moreButton.hidden = after === null;
          var count = pickerList.children.length;
          say(pickerState, count ? count + (count === 1 ? " image." : " images.") : "The library has no images yet.");
          if (first) {
            first.focus();
          }
        },
        function () {
          say(pickerState, "The library could not be shown: the site did not answer.");
        }
      );
    }

    function openPicker(how) {
      mode = how;
      after = null;
      opener = document.activeElement;
      pickerList.replaceChildren();
      picker.querySelector("#image-picker-title").textContent =
        how === "cover" ? "Choose the cover image" : "Choose an image to insert";
      picker.showModal();
      load();
    }

    moreButton.addEventListener("click", load);
    picker.querySelector(".image-picker__close").addEventListener("click", function () {
      picker.close();
    });
    picker.addEventListener("close", function () {
      if (mode === "cover" && opener && document.activeElement === document.body) {
        opener.focus();
      }
    });

    if (coverButton && coverSelect) {
      coverButton.hidden = false;
      coverButton.addEventListener("click", function () {
        openPicker("cover");
      });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
