"use strict";
// Checks the token against /v1/tokens/self before keeping it: a refused token is never stored.
(() => {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const params = new URLSearchParams(location.search);
  if (params.get("reason") === "refused") {
    error.textContent = "The server refused the token (unknown or revoked). Sign in again.";
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = document.getElementById("token").value.trim();
    error.textContent = "";
    const resp = await fetch("/v1/tokens/self", {
      headers: { Authorization: Honed.basic(token) },
      credentials: "omit",
      cache: "no-store",
    });
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      error.textContent = "Token refused: " + (body.message || resp.status);
      return;
    }
    Honed.signIn(token);
    location.assign(Honed.safeNext(params.get("next")));
  });
})();
