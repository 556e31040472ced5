using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TenantEvents.Keys;
using TenantEvents.Tests.Support;
using Wolverine.Tracking;

namespace TenantEvents.Tests.Isolation;

/// <summary>What someone holding the database (a dump, a superuser, a stolen backup) can and cannot read.</summary>
public class SealingIsolationTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private TenantKeyRing Keys => Fixture.Host.Services.GetRequiredService<TenantKeyRing>();

    /// <summary>A superuser's pg_dump of every database of the platform (main, zones, dedicated).</summary>
    private static async Task<string> Dump()
    {
        var script = Path.Combine(TestDatabase.RepositoryRoot(), "ops", "postgres", "local-cluster.sh");
        var dumps = new System.Text.StringBuilder();
        foreach (var (_, database, _) in await TestDatabase.Databases())
        {
            using var process = Process.Start(new ProcessStartInfo(script, $"dump {database}") { RedirectStandardOutput = true, RedirectStandardError = true })!;
            dumps.Append(process.StandardOutput.ReadToEnd());
            process.WaitForExit();
            process.ExitCode.ShouldBe(0, process.StandardError.ReadToEnd());
        }
        return dumps.ToString();
    }

    [Fact]
    public async Task a_database_dump_holds_no_plaintext_of_tenant_data()
    {
        // One tenant in each kind of database: the main one, a residency zone's, a dedicated one.
        var sentinels = new List<string>();
        var ids = new List<Guid>();
        foreach (var (tag, template, country, subdivision) in new[]
                 {
                     ("Zq7Xw", "government-services", "GB", "GB-SCT"), ("Hv3Ny", "commercial-saas", "DE", "DE-BY"),
                     ("Lm8Pd", "intelligence", "US", "US-VA"),
                 })
        {
            string name = $"Sentinel Agency {tag}", contact = $"Quillon Vantablack-{tag}", email = $"quillon.{tag.ToLowerInvariant()}@example.gov",
                reason = $"Sentinel suspension reason {tag}";
            var reply = (await Admin.Post("/api/tenants", new
            {
                name, slug = $"sentinel-agency-{ids.Count + 1}", template,
                residency = new { country, subdivision },
                contacts = new[] { new { name = contact, email } },
            })).ShouldBe(HttpStatusCode.Created);
            var id = Guid.Parse(reply.Str("id"));
            await Approver.Post($"/api/tenants/{id}/approve");
            await Admin.Post($"/api/tenants/{id}/provision");
            await Admin.Post($"/api/tenants/{id}/suspend", new { reason });

            // The service reads it all back...
            var read = (await Read(id)).Body;
            foreach (var sentinel in new[] { name, contact, email, reason }) read.ShouldContain(sentinel);
            sentinels.AddRange([name, contact, email, reason, tag, "Quillon"]);
            ids.Add(id);
        }

        // ...the databases hold none of it in the clear: only the fields listings filter on.
        var dump = await Dump();
        foreach (var id in ids) dump.ShouldContain(id.ToString());
        dump.ShouldContain("sentinel-agency-3");
        foreach (var sentinel in sentinels)
            dump.ShouldNotContain(sentinel, Case.Insensitive, $"'{sentinel}' is in the dump");
    }

    [Fact]
    public async Task a_ciphertext_moved_into_another_tenants_stream_does_not_open_there()
    {
        var a = await Active("agency-a");
        var b = await Active("agency-b");
        await using (var owner = await TestDatabase.TamperingConnection())
        {
            // A superuser-level attacker (triggers off: the ledger would refuse the update) copies A's first event over B's.
            await using var move = new NpgsqlCommand("""
                update tenantevents.mt_events set data = (select data from tenantevents.mt_events where stream_id = @a and version = 1)
                where stream_id = @b and version = 1
                """, owner);
            move.Parameters.AddWithValue("a", a);
            move.Parameters.AddWithValue("b", b);
            (await move.ExecuteNonQueryAsync()).ShouldBe(1);
        }
        var reply = (await Admin.Get($"/api/tenants/{b}/events")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
        reply.Body.ShouldNotContain("agency-a");
        (await Admin.Get($"/api/tenants/{a}/events")).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task an_event_moved_to_another_position_of_its_own_stream_does_not_open_as_another_type()
    {
        var a = await Active("agency-a");
        await using (var owner = await TestDatabase.TamperingConnection())
        {
            await using var move = new NpgsqlCommand("""
                update tenantevents.mt_events set data = (select data from tenantevents.mt_events where stream_id = @a and version = 2)
                where stream_id = @a and version = 3
                """, owner);
            move.Parameters.AddWithValue("a", a);
            await move.ExecuteNonQueryAsync();
        }
        (await Admin.Get($"/api/tenants/{a}/events")).ShouldBeProblem(HttpStatusCode.InternalServerError, "integrity-violation");
    }

    [Fact]
    public async Task after_crypto_shredding_a_tenants_events_remain_but_do_not_open_and_the_others_are_intact()
    {
        var doomed = await Active("doomed-agency");
        var other = await Active("other-agency");
        await Admin.Post($"/api/tenants/{doomed}/decommission", new { reason = "closing" });
        await Approver.Post($"/api/tenants/{doomed}/decommission/approve");
        Fixture.Time.Advance(TimeSpan.FromDays(2556));
        await Fixture.Host.ExecuteAndWaitAsync(() => Admin.Post($"/api/tenants/{doomed}/decommission/complete"));

        (await EventCount(doomed)).ShouldBe(6);
        await Should.ThrowAsync<KeyDestroyedException>(() => Keys.VersionAsync(doomed, 1, CancellationToken.None));
        Directory.Exists(Path.Combine(Fixture.DataFolder, "keys", "tenants", doomed.ToString())).ShouldBeFalse();
        await using (var owner = new NpgsqlConnection(TestDatabase.OwnerConnectionString))
        {
            await owner.OpenAsync();
            await using var count = new NpgsqlCommand("select count(*) from tenantevents.tenant_data_keys where tenant_id = @t", owner);
            count.Parameters.AddWithValue("t", doomed.ToString());
            ((long)(await count.ExecuteScalarAsync())!).ShouldBe(0);
        }
        (await Admin.Get($"/api/tenants/{doomed}")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");

        (await Read(other)).Str("state").ShouldBe("active");
        (await Admin.Post($"/api/tenants/{other}/suspend", new { reason = "still works" })).ShouldBe(HttpStatusCode.OK);
        var list = (await As("analyst").Get("/api/tenants")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("items");
        list.GetArrayLength().ShouldBe(2);
        list[0].GetProperty("state").GetString().ShouldBe("decommissioned");
        list[0].TryGetProperty("name", out _).ShouldBeFalse();
    }

    [Fact]
    public async Task the_key_service_unwraps_a_tenants_data_key_once_not_once_per_event()
    {
        var before = Keys.UnwrapCount;
        var id = await Active("busy-agency");
        // The key generated for a new tenant is cached as it is made: no unwrap at all.
        (Keys.UnwrapCount - before).ShouldBe(0);
        // As after the cache lifetime, or on another instance: the first use unwraps once, the next uses none.
        Keys.Forget(id);
        before = Keys.UnwrapCount;
        for (var i = 0; i < 20; i++)
            await Admin.Send(HttpMethod.Put, $"/api/tenants/{id}/name", new { name = $"Busy Agency {i}" });
        await Admin.Get($"/api/tenants/{id}/events");
        (Keys.UnwrapCount - before).ShouldBe(1);
        // Twenty readers at once on a cold cache (a restarted instance under load) share one unwrap too.
        Keys.Forget(id);
        before = Keys.UnwrapCount;
        var keys = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Keys.VersionAsync(id, 1, CancellationToken.None)));
        keys.Distinct().ShouldHaveSingleItem();
        (Keys.UnwrapCount - before).ShouldBe(1);
        (await Admin.Get($"/api/tenants/{id}")).ShouldBe(HttpStatusCode.OK);
        var status = (await Admin.Get("/api/platform/key-service")).ShouldBe(HttpStatusCode.OK).Json;
        status.GetProperty("provider").GetString().ShouldBe("local");
        status.GetProperty("unwrapsSinceStart").GetInt64().ShouldBe(Keys.UnwrapCount);
        (await As("analyst").Get("/api/platform/key-service")).ShouldBeProblem(HttpStatusCode.Forbidden, "forbidden");
    }

    [Fact]
    public async Task rotating_the_data_key_seals_new_events_with_the_new_version_and_old_ones_still_open()
    {
        var id = await Active("rotating-agency");
        (await Keys.RotateDataKeyAsync(id, CancellationToken.None)).ShouldBe(2);
        await Admin.Post($"/api/tenants/{id}/suspend", new { reason = "after rotation" });
        await using (var owner = new NpgsqlConnection(TestDatabase.OwnerConnectionString))
        {
            await owner.OpenAsync();
            await using var versions = new NpgsqlCommand(
                "select string_agg((data ->> 'KeyVersion'), ',' order by version) from tenantevents.mt_events where stream_id = @t", owner);
            versions.Parameters.AddWithValue("t", id);
            ((string)(await versions.ExecuteScalarAsync())!).ShouldBe("1,1,1,2");
        }

        // KEK rotation re-wraps both data keys; with the cache emptied, everything still opens through the new KEK.
        (await Keys.RotateKeyEncryptionKeyAsync(id, CancellationToken.None)).ShouldEndWith("/kek-v2");
        Keys.Forget(id);
        (await Admin.Get($"/api/tenants/{id}/events")).ShouldBe(HttpStatusCode.OK).Json.GetArrayLength().ShouldBe(4);
        (await Read(id)).Str("state").ShouldBe("suspended");
    }

    [Fact]
    public async Task keys_are_rotated_over_the_api_and_the_rotation_is_recorded_without_key_material()
    {
        var id = await Active("api-rotation");
        var rotated = (await Admin.Post($"/api/tenants/{id}/keys/rotate", new { key = "data" })).ShouldBe(HttpStatusCode.OK);
        rotated.Json.GetProperty("lastKeyRotation").GetProperty("reference").GetString().ShouldBe("2");
        (await Admin.Post($"/api/tenants/{id}/keys/rotate", new { key = "key-encryption" })).ShouldBe(HttpStatusCode.OK)
            .Json.GetProperty("lastKeyRotation").GetProperty("reference").GetString().ShouldEndWith("/kek-v2");
        (await Admin.Post($"/api/tenants/{id}/keys/rotate", new { key = "everything" })).ShouldBeProblem(HttpStatusCode.BadRequest, "malformed-request");
        (await Admin.Post($"/api/tenants/{id}/keys/rotate", new { })).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Admin.Post($"/api/tenants/{Guid.CreateVersion7()}/keys/rotate", new { key = "data" })).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        Keys.Forget(id);
        (await Admin.Get($"/api/tenants/{id}/events")).ShouldBe(HttpStatusCode.OK).Json.GetArrayLength().ShouldBe(5);
    }
}
