// enroll: the little JavaScript of the portal and the console (served from this server, no
// inline script: the pages' Content-Security-Policy forbids it). Every page works without it
// except the upload progress bar and the live countdown.
"use strict";

// Countdown of a profile's validity: <div data-expires="UNIX" data-now="UNIX"> holding
// .remaining; when it reaches zero, [data-while-valid] hides and [data-once-expired] shows.
function startCountdowns() {
  document.querySelectorAll("[data-expires]").forEach(function (box) {
    var expires = Number(box.getAttribute("data-expires"));
    var skew = Number(box.getAttribute("data-now")) - Date.now() / 1000;
    var out = box.querySelector(".remaining");
    function tick() {
      var left = Math.max(0, Math.round(expires - (Date.now() / 1000 + skew)));
      var m = Math.floor(left / 60), s = left % 60;
      if (out) { out.textContent = m + ":" + (s < 10 ? "0" : "") + s; }
      if (left <= 0) {
        document.querySelectorAll("[data-while-valid]").forEach(function (e) { e.hidden = true; });
        document.querySelectorAll("[data-once-expired]").forEach(function (e) { e.hidden = false; });
        return;
      }
      setTimeout(tick, 1000);
    }
    tick();
  });
}

// <form data-confirm="Question?">: asks before submitting (retire, wipe, delete...).
function confirmForms() {
  document.querySelectorAll("form[data-confirm]").forEach(function (f) {
    f.addEventListener("submit", function (ev) {
      if (!window.confirm(f.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });
}

// <input type=checkbox data-select-all="name">: ticks or unticks every checkbox named name.
function selectAll() {
  document.querySelectorAll("input[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      var name = box.getAttribute("data-select-all");
      document.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (c) {
        c.checked = box.checked;
      });
    });
  });
}

// <form data-upload> with a file input, a <progress> and an <output>: sends the file as
// text/csv with the CSRF token in a header, shows the upload progress, then the report (every
// rejected line) from the JSON reply. Messages come from the form's data-msg-* attributes.
function csvUploads() {
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var input = form.querySelector("input[type=file]");
      var bar = form.querySelector("progress");
      var out = form.querySelector("output");
      var token = form.querySelector("input[name=csrf]").value;
      if (!input.files.length) { return; }
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("action"));
      xhr.setRequestHeader("content-type", "text/csv");
      xhr.setRequestHeader("x-csrf-token", token);
      bar.hidden = false; bar.value = 0;
      out.textContent = form.getAttribute("data-msg-sending");
      out.className = "";
      xhr.upload.onprogress = function (e) {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); }
      };
      xhr.upload.onload = function () {
        bar.value = 100;
        out.textContent = form.getAttribute("data-msg-checking");
      };
      xhr.onerror = function () { out.className = "error"; out.textContent = form.getAttribute("data-msg-network"); };
      xhr.onload = function () {
        var reply;
        try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = { message: xhr.statusText }; }
        out.textContent = "";
        var p = document.createElement("p");
        p.textContent = reply.message || "";
        out.appendChild(p);
        out.className = reply.ok ? "ok" : "error";
        if (reply.errors && reply.errors.length) {
          var list = document.createElement("ul");
          list.className = "bad-lines";
          reply.errors.forEach(function (e) {
            var li = document.createElement("li");
            li.textContent = form.getAttribute("data-msg-line") + " " + e.line + ": " + e.reason;
            list.appendChild(li);
          });
          out.appendChild(list);
        }
        if (reply.ok) {
          var a = document.createElement("a");
          a.href = window.location.pathname;
          a.className = "button quiet";
          a.textContent = form.getAttribute("data-msg-reload");
          out.appendChild(a);
        }
      };
      xhr.send(input.files[0]);
    });
  });
}

document.addEventListener("DOMContentLoaded", function () {
  startCountdowns();
  confirmForms();
  selectAll();
  csvUploads();
});
