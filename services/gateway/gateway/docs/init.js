// Swagger UI on the gateway's own document. The paths and tags keep the
// document's order (the app's flows); try-it-out sends requests to this
// gateway; no validator or anything else outside is called.
window.ui = SwaggerUIBundle({
  url: "/openapi.yaml",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: false,
  displayRequestDuration: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
