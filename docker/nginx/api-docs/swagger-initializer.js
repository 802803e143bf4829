// Swagger UI at /api/docs/ (the gateway): swagger-ui-dist's index.html loads this file instead of
// the package's own initializer (which points at the Petstore). The document is the fleet's merged
// OpenAPI (scripts/openapi/merge.py), served by the same gateway; "Authorize" takes an API key
// (bearer), or the browser's session cookie is sent along ("Try it out" is same-origin).
window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: false,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    filter: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
};
