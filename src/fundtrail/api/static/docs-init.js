// Starts Swagger UI on fundtrail's own OpenAPI document. A separate file (not an inline script)
// so the Content-Security-Policy can forbid inline scripts; no validator badge (it would call
// validator.swagger.io), no external URL of any kind: the page works air-gapped.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false
  });
});
