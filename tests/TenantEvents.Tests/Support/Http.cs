using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Shouldly;

namespace TenantEvents.Tests.Support;

/// <summary>A response read once: status, headers and the JSON body (if any).</summary>
public sealed record Reply(HttpStatusCode Status, HttpResponseHeaders Headers, HttpContentHeaders? ContentHeaders, string Body)
{
    public JsonElement Json => JsonDocument.Parse(Body).RootElement;
    public string? ETag => Headers.ETag?.Tag;
    public string Str(string property) => Json.GetProperty(property).GetString()!;

    public Reply ShouldBe(HttpStatusCode expected)
    {
        Status.ShouldBe(expected, Body);
        return this;
    }

    /// <summary>A problem+json of the given stable type.</summary>
    public Reply ShouldBeProblem(HttpStatusCode status, string code)
    {
        ShouldBe(status);
        ContentHeaders?.ContentType?.MediaType.ShouldBe("application/problem+json", Body);
        Json.GetProperty("type").GetString().ShouldBe("urn:tenantevents:problem:" + code, Body);
        Json.GetProperty("status").GetInt32().ShouldBe((int)status);
        return this;
    }
}

public static class HttpExtensions
{
    public static Task<Reply> Send(this HttpClient client, HttpMethod method, string url, object? body = null,
        IDictionary<string, string>? headers = null) =>
        client.SendRaw(method, url, body is null ? null : JsonSerializer.Serialize(body, TenantEvents.Infrastructure.Json.Options), headers);

    public static async Task<Reply> SendRaw(this HttpClient client, HttpMethod method, string url, string? rawBody,
        IDictionary<string, string>? headers = null)
    {
        using var request = new HttpRequestMessage(method, url);
        if (rawBody is not null) request.Content = new StringContent(rawBody, Encoding.UTF8, "application/json");
        foreach (var (name, value) in headers ?? new Dictionary<string, string>())
            request.Headers.TryAddWithoutValidation(name, value);
        using var response = await client.SendAsync(request);
        return new Reply(response.StatusCode, response.Headers, response.Content.Headers, await response.Content.ReadAsStringAsync());
    }

    public static Task<Reply> Post(this HttpClient client, string url, object? body = null, IDictionary<string, string>? headers = null) =>
        client.Send(HttpMethod.Post, url, body, headers);

    public static Task<Reply> Put(this HttpClient client, string url, object? body = null, IDictionary<string, string>? headers = null) =>
        client.Send(HttpMethod.Put, url, body, headers);

    public static Task<Reply> Patch(this HttpClient client, string url, object? body = null, IDictionary<string, string>? headers = null) =>
        client.Send(HttpMethod.Patch, url, body, headers);

    public static Task<Reply> Delete(this HttpClient client, string url, IDictionary<string, string>? headers = null) =>
        client.Send(HttpMethod.Delete, url, null, headers);

    public static Task<Reply> Get(this HttpClient client, string url, IDictionary<string, string>? headers = null) =>
        client.Send(HttpMethod.Get, url, null, headers);
}
