using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;

namespace TenantEvents.Tests.Keys;

/// <summary>
/// A local stand-in of Azure Key Vault's key REST contract (api-version 7.4): create, wrapkey, unwrapkey with real
/// RSA-OAEP-256, delete and purge; bearer authentication (401 with a challenge), 403 for keys the caller may not use,
/// and 429 with Retry-After when asked to throttle.
/// </summary>
public sealed class KeyVaultStandIn : IAsyncDisposable
{
    public const string VaultUrl = "https://tenants.vault.test/";
    private readonly Dictionary<string, List<RSA>> _keys = new();
    private readonly HashSet<string> _softDeleted = new();
    private readonly WebApplication _app;

    public string AcceptedToken { get; set; } = "good-token";
    public HashSet<string> ForbiddenKeys { get; } = new();
    public int ThrottleNext { get; set; }
    public int Requests { get; private set; }
    public IReadOnlyCollection<string> SoftDeleted => _softDeleted;
    public bool Exists(string name) => _keys.ContainsKey(name);

    private KeyVaultStandIn(WebApplication app) => _app = app;

    public HttpClient Client => _app.GetTestClient();

    public static async Task<KeyVaultStandIn> StartAsync()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        var app = builder.Build();
        var standIn = new KeyVaultStandIn(app);
        app.Use(standIn.Gate);
        app.MapPost("/keys/{name}/create", standIn.Create);
        app.MapPost("/keys/{name}/{version}/{operation}", standIn.Operate);
        app.MapDelete("/keys/{name}", (string name) => standIn.Delete(name));
        app.MapDelete("/deletedkeys/{name}", (string name) => standIn._softDeleted.Remove(name) ? Results.NoContent() : Error(404, "KeyNotFound", "no such deleted key"));
        await app.StartAsync();
        return standIn;
    }

    private async Task Gate(HttpContext http, RequestDelegate next)
    {
        lock (this) Requests++;
        if (http.Request.Query["api-version"] != "7.4")
        {
            await Error(400, "BadParameter", "api-version 7.4 expected").ExecuteAsync(http);
            return;
        }
        if (http.Request.Headers.Authorization != $"Bearer {AcceptedToken}")
        {
            http.Response.Headers.WWWAuthenticate = "Bearer authorization=\"https://login.microsoftonline.com/common\", resource=\"https://vault.azure.net\"";
            await Error(401, "Unauthorized", "AKV10000: Request is missing a valid Bearer token.").ExecuteAsync(http);
            return;
        }
        if (ThrottleNext > 0)
        {
            ThrottleNext--;
            http.Response.Headers.RetryAfter = "0";
            await Error(429, "Throttled", "Rate limit exceeded.").ExecuteAsync(http);
            return;
        }
        var name = http.Request.Path.Value!.Split('/', StringSplitOptions.RemoveEmptyEntries).ElementAtOrDefault(1);
        if (name is not null && ForbiddenKeys.Contains(name))
        {
            await Error(403, "Forbidden", "The user does not have keys wrapKey permission on key vault.").ExecuteAsync(http);
            return;
        }
        await next(http);
    }

    private async Task<IResult> Create(string name, HttpRequest request)
    {
        var body = await JsonNode.ParseAsync(request.Body);
        if (body?["kty"]?.GetValue<string>() != "RSA") return Error(400, "BadParameter", "kty RSA expected");
        var rsa = RSA.Create(body["key_size"]?.GetValue<int>() ?? 2048);
        lock (_keys)
        {
            if (!_keys.TryGetValue(name, out var versions)) _keys[name] = versions = [];
            versions.Add(rsa);
            return Results.Json(new { key = new { kid = $"{VaultUrl}keys/{name}/v{versions.Count}", kty = "RSA" } });
        }
    }

    private async Task<IResult> Operate(string name, string version, string operation, HttpRequest request)
    {
        if (!_keys.TryGetValue(name, out var versions) || !int.TryParse(version.TrimStart('v'), out var v) || v < 1 || v > versions.Count)
            return Error(404, "KeyNotFound", $"A key with (name/id) {name}/{version} was not found in this key vault.");
        var body = await JsonNode.ParseAsync(request.Body);
        if (body?["alg"]?.GetValue<string>() != "RSA-OAEP-256") return Error(400, "BadParameter", "alg RSA-OAEP-256 expected");
        var value = FromBase64Url(body["value"]!.GetValue<string>());
        var rsa = versions[v - 1];
        try
        {
            var result = operation switch
            {
                "wrapkey" => rsa.Encrypt(value, RSAEncryptionPadding.OaepSHA256),
                "unwrapkey" => rsa.Decrypt(value, RSAEncryptionPadding.OaepSHA256),
                _ => null,
            };
            return result is null
                ? Error(404, "NotFound", operation)
                : Results.Json(new { kid = $"{VaultUrl}keys/{name}/{version}", value = ToBase64Url(result) });
        }
        catch (CryptographicException)
        {
            return Error(400, "BadParameter", "The parameter is incorrect.");
        }
    }

    private IResult Delete(string name)
    {
        lock (_keys)
        {
            if (!_keys.Remove(name)) return Error(404, "KeyNotFound", "no such key");
            _softDeleted.Add(name);
            return Results.Json(new { recoveryId = $"{VaultUrl}deletedkeys/{name}" });
        }
    }

    private static IResult Error(int status, string code, string message) =>
        Results.Json(new { error = new { code, message } }, statusCode: status);

    private static string ToBase64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();
}
