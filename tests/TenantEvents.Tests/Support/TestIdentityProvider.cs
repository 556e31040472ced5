using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace TenantEvents.Tests.Support;

/// <summary>
/// A real OpenID provider process (tests/idp/server.mjs: Node.js and oauth2-mock-server, installed by `make test`): its
/// discovery document, JWKS and token endpoint over HTTP on loopback, and test controls to mint tokens with chosen
/// claims and to rotate its signing key.
/// </summary>
public sealed class TestIdentityProvider : IAsyncDisposable
{
    private static readonly HttpClient Http = new();
    private readonly Process _process;

    public string Issuer { get; }

    private TestIdentityProvider(Process process, string issuer)
    {
        _process = process;
        Issuer = issuer;
    }

    public static async Task<TestIdentityProvider> StartAsync(string algorithm = "RS256")
    {
        var folder = Path.Combine(TestDatabase.RepositoryRoot(), "tests", "idp");
        if (!Directory.Exists(Path.Combine(folder, "node_modules")))
            throw new InvalidOperationException("tests/idp has no node_modules: run `make test` (or `make idp`) to install the test identity provider.");
        var process = Process.Start(new ProcessStartInfo("node", $"server.mjs {algorithm}")
        {
            WorkingDirectory = folder, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        })!;
        var line = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30))
                   ?? throw new InvalidOperationException("The test identity provider ended: " + await process.StandardError.ReadToEndAsync());
        return new TestIdentityProvider(process, JsonDocument.Parse(line).RootElement.GetProperty("issuer").GetString()!);
    }

    /// <summary>A token signed by this provider's current key with these claims (iss, iat, nbf, exp are the provider's unless given).</summary>
    public async Task<string> TokenAsync(object claims, object? header = null, int expiresIn = 3600)
    {
        using var response = await Http.PostAsJsonAsync(Issuer + "/control/token", new { claims, header = header ?? new { }, expiresIn });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("token").GetString()!;
    }

    /// <summary>A token as a user of this provider, for an audience, with groups.</summary>
    public Task<string> UserTokenAsync(string subject, string audience, string[]? groups = null, string? email = null) =>
        TokenAsync(new Dictionary<string, object?>
        {
            ["sub"] = subject, ["aud"] = audience, ["groups"] = groups ?? [], ["email"] = email ?? $"{subject}@example.gov", ["name"] = subject,
        });

    /// <summary>A new signing key (new tokens use it; the JWKS lists old and new).</summary>
    public async Task<string> RotateAsync()
    {
        using var response = await Http.PostAsync(Issuer + "/control/rotate", null);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("kid").GetString()!;
    }

    /// <summary>How many times the JWKS was fetched from this provider.</summary>
    public async Task<int> JwksRequestsAsync() =>
        (await Http.GetFromJsonAsync<JsonElement>(Issuer + "/control/stats")).GetProperty("jwksRequests").GetInt32();

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000)) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        await Task.CompletedTask;
    }
}
