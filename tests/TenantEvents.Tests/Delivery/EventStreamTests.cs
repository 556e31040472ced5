using System.Net;
using System.Text.Json;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Delivery;

/// <summary>The server-sent-events stream: each event once, in log order, resumed exactly after a disconnect.</summary>
public class EventStreamTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private sealed record Sse(long Id, string Event, JsonElement Data);

    /// <summary>An open stream: connected (its position fixed) once this returns.</summary>
    private sealed class Connection : IAsyncDisposable
    {
        private readonly HttpResponseMessage _response;
        private readonly StreamReader _reader;
        private readonly CancellationTokenSource _timeout = new(TimeSpan.FromSeconds(30));

        private Connection(HttpResponseMessage response, StreamReader reader) => (_response, _reader) = (response, reader);

        public static async Task<Connection> OpenAsync(HttpClient client, string url, string? lastEventId = null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
            var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("text/event-stream");
            return new Connection(response, new StreamReader(await response.Content.ReadAsStreamAsync()));
        }

        public async Task<List<Sse>> ReadAsync(int count)
        {
            var events = new List<Sse>();
            string? id = null, name = null, data = null;
            while (events.Count < count)
            {
                var line = await _reader.ReadLineAsync(_timeout.Token) ?? throw new EndOfStreamException();
                if (line.StartsWith("id: ")) id = line[4..];
                else if (line.StartsWith("event: ")) name = line[7..];
                else if (line.StartsWith("data: ")) data = line[6..];
                else if (line.Length == 0 && data is not null)
                {
                    events.Add(new Sse(long.Parse(id!), name!, JsonDocument.Parse(data).RootElement.Clone()));
                    (id, name, data) = (null, null, null);
                }
            }
            return events;
        }

        public ValueTask DisposeAsync()
        {
            _reader.Dispose();
            _response.Dispose();
            _timeout.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private static async Task<List<Sse>> ReadAsync(HttpClient client, string url, int count, string? lastEventId = null)
    {
        await using var connection = await Connection.OpenAsync(client, url, lastEventId);
        return await connection.ReadAsync(count);
    }

    private async Task<Guid> Org(Guid tenant, string name) =>
        Guid.Parse((await TenantAdminOf(tenant).Post($"/api/tenants/{tenant}/organisations",
            new { parentId = await RootOf(tenant), name, kind = "unit" })).ShouldBe(HttpStatusCode.Created).Str("id"));

    [Fact]
    public async Task a_client_that_reconnects_with_its_last_event_id_misses_nothing_and_gets_nothing_twice()
    {
        var tenant = await Active();
        var other = await Active("bexar-sheriff");
        await Org(other, "Narcotics");
        var client = TenantAdminOf(tenant);
        var url = $"/api/tenants/{tenant}/events/stream";

        // From the first event: the tenant's whole history, in order, only its own.
        var history = await ReadAsync(client, url + "?after=-1", 3);
        history.Select(e => e.Id).ShouldBe([0, 1, 2]);
        history.Select(e => e.Event).ShouldBe(["com.tenantevents.tenant_requested", "com.tenantevents.tenant_approved", "com.tenantevents.tenant_provisioned"]);
        history.ShouldAllBe(e => e.Data.GetProperty("tenantid").GetString() == tenant.ToString());
        history[0].Data.GetProperty("sequence").GetString().ShouldBe("0");

        // Live: a reader waiting at the end gets what is committed while it waits, and nothing before.
        Sse first;
        await using (var live = await Connection.OpenAsync(client, url))
        {
            var patrol = await Org(tenant, "Patrol");
            first = (await live.ReadAsync(1)).Single();
            first.Event.ShouldBe("com.tenantevents.organisation_created");
            first.Data.GetProperty("subject").GetString().ShouldBe($"organisation/{patrol}");
            first.Id.ShouldBeGreaterThan(2);
        }

        // Disconnected; two more events happen; resuming with Last-Event-ID gives exactly those.
        await Org(tenant, "Traffic");
        await Org(tenant, "Records");
        var resumed = await ReadAsync(client, url, 2, lastEventId: first.Id.ToString());
        resumed.Select(e => e.Id).ShouldBe([first.Id + 1, first.Id + 2]);
        resumed.Select(e => e.Data.GetProperty("data").GetProperty("name").GetString()).ShouldBe(["Traffic", "Records"]);

        // A filter narrows what comes, positions stay the log's.
        var filtered = await ReadAsync(client, url + "?after=-1&types=com.tenantevents.organisation_created", 3);
        filtered.ShouldAllBe(e => e.Event == "com.tenantevents.organisation_created");
    }

    [Fact]
    public async Task bad_positions_are_refused()
    {
        var tenant = await Active();
        var client = TenantAdminOf(tenant);
        (await client.Get($"/api/tenants/{tenant}/events/stream?after=abc")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Get($"/api/tenants/{tenant}/events/stream?after=-5")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Get($"/api/tenants/{tenant}/events/stream?types=nope")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await client.Get($"/api/tenants/{tenant}/events/stream", new Dictionary<string, string> { ["Last-Event-ID"] = "x" }))
            .ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
    }
}
