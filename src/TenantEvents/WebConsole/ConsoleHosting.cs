using Microsoft.Extensions.FileProviders;
using TenantEvents.Infrastructure;

namespace TenantEvents.WebConsole;

/// <summary>
/// The web console at /console: static files (console/, Preact + Vite) that use only the public API as the signed-in
/// person. Served before authentication and the anonymous rate limit (they are the same files for everyone and hold no
/// data), with a strict Content-Security-Policy: scripts and styles from this origin only, no framing, no referrer (an
/// authorization code in the address must not leak), and fetches to this origin and to identity providers (the code
/// exchange with PKCE is the browser's, at the provider's token endpoint).
/// </summary>
public static class ConsoleHosting
{
    public const string PathPrefix = "/console";

    public static string Folder(TenantEventsOptions options) => options.ConsoleFolder ?? Path.Combine(AppContext.BaseDirectory, "console");

    public static void UseConsole(this WebApplication app, TenantEventsOptions options)
    {
        var folder = Folder(options);
        var built = File.Exists(Path.Combine(folder, "index.html"));
        var providers = options.AllowInsecureIdentityProviders ? "https: http:" : "https:";
        var policy = $"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' {providers}; " +
                     "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
        app.Map(PathPrefix, branch =>
        {
            branch.Use((http, next) =>
            {
                var headers = http.Response.Headers;
                headers.ContentSecurityPolicy = policy;
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                headers.XFrameOptions = "DENY";
                headers["Cross-Origin-Opener-Policy"] = "same-origin";
                return next(http);
            });
            if (!built)
            {
                branch.Run(http => new Problem("console-not-built", 503, "The console is not built",
                    $"No console files at {folder}: run `make console` (npm and Vite), or set TenantEvents__ConsoleFolder.").ToResult().ExecuteAsync(http));
                return;
            }
            var files = new PhysicalFileProvider(folder);
            branch.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files });
            branch.UseStaticFiles(new StaticFileOptions
            {
                FileProvider = files,
                OnPrepareResponse = context =>
                {
                    // Hashed asset names never change content: cache them for a year; the page itself is always asked again.
                    context.Context.Response.Headers.CacheControl = context.File.Name == "index.html" ? "no-cache" : "public, max-age=31536000, immutable";
                },
            });
            // Anything else under /console is a page of the client-side router: the same index.html.
            branch.Run(async http =>
            {
                if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method))
                {
                    http.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
                    return;
                }
                if (http.Request.Path.StartsWithSegments("/assets"))
                {
                    http.Response.StatusCode = StatusCodes.Status404NotFound;
                    return;
                }
                http.Response.ContentType = "text/html; charset=utf-8";
                http.Response.Headers.CacheControl = "no-cache";
                await http.Response.SendFileAsync(files.GetFileInfo("index.html"));
            });
        });
    }
}
