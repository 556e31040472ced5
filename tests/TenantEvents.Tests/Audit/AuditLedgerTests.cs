using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TenantEvents.Audit;
using TenantEvents.Infrastructure.Security;
using TenantEvents.Ledger;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Audit;

/// <summary>
/// The ledger end to end: every event logged with a gap-free index, signed checkpoints, proofs that verify against
/// them, export bundles that the auditor's command line verifies offline, and tampering (as a database superuser who
/// switches the triggers off) found and named by position.
/// </summary>
public class AuditLedgerTests(AppFixture fixture) : IntegrationTest(fixture)
{
    private HttpClient Auditor => As(Roles.Auditor, "carol");

    private async Task<NoteKey> LogKey()
    {
        var reply = (await Fixture.Client(null).Get("/api/audit/log-key")).ShouldBe(HttpStatusCode.OK);
        return NoteKey.ParseVerifier(reply.Str("verifierKey"));
    }

    private async Task<string> ExportFile(Guid tenant)
    {
        var reply = (await Auditor.Get($"/api/tenants/{tenant}/audit/export")).ShouldBe(HttpStatusCode.OK);
        var path = Path.Combine(Fixture.DataFolder, $"bundle-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, reply.Body);
        return path;
    }

    /// <summary>The bundle verified both ways, in memory and streamed from the file (what the CLI runs): the same findings.</summary>
    private async Task<VerificationReport> Verify(Guid tenant)
    {
        var file = await ExportFile(tenant);
        var bundle = JsonSerializer.Deserialize<AuditBundle>(await File.ReadAllTextAsync(file), AuditBundle.Json)!;
        var key = await LogKey();
        var report = BundleVerifier.Verify(bundle, key);
        var streamed = BundleVerifier.VerifyFile(file, key);
        streamed.Problems.ShouldBe(report.Problems);
        (streamed.Verified, streamed.Entries, streamed.SignedSize).ShouldBe((report.Verified, report.Entries, report.SignedSize));
        return report;
    }

    /// <summary>An active tenant with a few more writes, and a checkpoint over all of it.</summary>
    private async Task<Guid> TenantWithHistory()
    {
        var id = await Active();
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "Travis County Sheriff's Office" })).ShouldBe(HttpStatusCode.OK);
        (await Admin.Post($"/api/tenants/{id}/suspend", new { reason = "invoice overdue" })).ShouldBe(HttpStatusCode.OK);
        (await Admin.Post($"/api/tenants/{id}/reactivate", new { comment = "paid" })).ShouldBe(HttpStatusCode.OK);
        (await Auditor.Post($"/api/tenants/{id}/audit/checkpoints")).ShouldBe(HttpStatusCode.Created);
        return id;
    }

    private static async Task Superuser(string sql, params object[] values)
    {
        var builder = new NpgsqlConnectionStringBuilder(TestDatabase.OwnerConnectionString) { Username = "postgres" };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        // What an intruder with superuser rights does first: switch every trigger off for the session.
        await using (var off = new NpgsqlCommand("set session_replication_role = replica", connection)) await off.ExecuteNonQueryAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var v in values) command.Parameters.Add(new NpgsqlParameter { Value = v });
        await command.ExecuteNonQueryAsync();
    }

    private async Task<List<(long Index, long Seq)>> Log(Guid tenant)
    {
        await Fixture.Host.Services.GetRequiredService<AuditLog>().FlushAsync(tenant, CancellationToken.None);
        await using var connection = new NpgsqlConnection(TestDatabase.OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select log_index, seq_id from tenantevents.audit_log where tenant_id = $1 order by log_index", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = tenant.ToString() });
        var list = new List<(long, long)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) list.Add((reader.GetInt64(0), reader.GetInt64(1)));
        return list;
    }

    [Fact]
    public async Task every_event_of_a_tenant_gets_the_next_log_index_and_its_export_verifies()
    {
        var id = await TenantWithHistory();
        var other = await Active("state-police");
        var log = await Log(id);
        log.Select(l => l.Index).ShouldBe(Enumerable.Range(0, log.Count).Select(i => (long)i)); // gap-free from 0
        log.Select(l => l.Seq).ShouldBeInOrder(SortDirection.Ascending);
        (await Log(other)).First().Index.ShouldBe(0); // each tenant its own log
        var events = await EventCount(id);
        log.Count.ShouldBeGreaterThan((int)events); // the tenant stream and its organisation streams

        var report = await Verify(id);
        report.Problems.ShouldBeEmpty();
        report.Verified.ShouldBeTrue();
        report.Entries.ShouldBe(log.Count);
        report.SignedSize.ShouldBe(log.Count);

        // The offline command line says the same, and exits 0.
        var bundle = await ExportFile(id);
        var key = (await LogKey()).VerifierKey;
        var output = new StringWriter();
        TenantEvents.Cli.Program.Run(["audit", "verify", "--bundle", bundle, "--key", key], output, output).ShouldBe(0, output.ToString());
        output.ToString().ShouldContain("VERIFIED");
        // Every key that ever signed is listed, by the service and in the bundle (the signing one first).
        var keyAnswer = (await Fixture.Client(null).Get("/api/audit/log-key")).Json;
        keyAnswer.GetProperty("allVerifierKeys")[0].GetString().ShouldBe(key);
        JsonDocument.Parse(await File.ReadAllTextAsync(bundle)).RootElement.GetProperty("logKeys")[0].GetString().ShouldBe(key);
        // The key may also be given as the service's answer, saved as it came (JSON, "+" escaped).
        var keyFile = Path.Combine(Fixture.DataFolder, "logkey.json");
        await File.WriteAllTextAsync(keyFile, (await Fixture.Client(null).Get("/api/audit/log-key")).Body);
        TenantEvents.Cli.Program.Run(["audit", "verify", "--bundle", bundle, "--key", "@" + keyFile], output, output).ShouldBe(0, output.ToString());
        // A different key verifies nothing.
        using var stranger = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var strangerKey = NoteKey.ForSigning((await LogKey()).Name, stranger).VerifierKey;
        TenantEvents.Cli.Program.Run(["audit", "verify", "--bundle", bundle, "--key", strangerKey], output, output).ShouldBe(1);
        TenantEvents.Cli.Program.Run(["audit", "verify", "--bundle", bundle, "--key", "garbage"], output, output).ShouldBe(2);
    }

    [Fact]
    public async Task checkpoints_are_signed_c2sp_notes_and_the_proofs_verify_against_them()
    {
        var id = await TenantWithHistory();
        var key = await LogKey();
        var first = (await Auditor.Get($"/api/tenants/{id}/audit/checkpoints")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("checkpoints")[0];
        var note = first.GetProperty("note").GetString()!;
        var text = key.Open(note).ShouldNotBeNull();
        var checkpoint = Checkpoint.Parse(text).ShouldNotBeNull();
        checkpoint.Origin.ShouldBe($"{key.Name}/audit/{id}");
        checkpoint.Size.ShouldBe(first.GetProperty("treeSize").GetInt64());
        // A note altered by one character no longer opens.
        key.Open(note.Replace($"\n{checkpoint.Size}\n", $"\n{checkpoint.Size + 1}\n")).ShouldBeNull();
        // Nothing new: the same checkpoint again (200, not a new one).
        (await Auditor.Post($"/api/tenants/{id}/audit/checkpoints")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("treeSize").GetInt64().ShouldBe(checkpoint.Size);

        // Grow the log, sign again: the consistency proof between the two checkpoints verifies.
        (await Admin.Put($"/api/tenants/{id}/name", new { name = "Travis County Sheriff" })).ShouldBe(HttpStatusCode.OK);
        var second = (await Auditor.Post($"/api/tenants/{id}/audit/checkpoints")).ShouldBe(HttpStatusCode.Created).Json;
        var size2 = second.GetProperty("treeSize").GetInt64();
        size2.ShouldBe(checkpoint.Size + 1);
        var root2 = Convert.FromBase64String(second.GetProperty("rootHash").GetString()!);
        var consistency = (await Auditor.Get($"/api/tenants/{id}/audit/proofs/consistency?from={checkpoint.Size}&to={size2}")).ShouldBe(HttpStatusCode.OK).Json;
        var proof = consistency.GetProperty("proof").EnumerateArray().Select(p => Convert.FromBase64String(p.GetString()!)).ToList();
        MerkleProof.VerifyConsistency((ulong)checkpoint.Size, (ulong)size2, proof, checkpoint.Root, root2).ShouldBeTrue();

        // The inclusion proof of the tenant's first event, by its id, against the latest checkpoint.
        var history = (await Auditor.Get($"/api/tenants/{id}/events")).ShouldBe(HttpStatusCode.OK);
        var entries = (await Auditor.Get($"/api/tenants/{id}/audit/entries?stream={id}&limit=1")).ShouldBe(HttpStatusCode.OK).Json.GetProperty("entries");
        var eventId = entries[0].GetProperty("eventId").GetGuid();
        var inclusion = (await Auditor.Get($"/api/tenants/{id}/audit/proofs/inclusion?eventId={eventId}")).ShouldBe(HttpStatusCode.OK).Json;
        inclusion.GetProperty("leafIndex").GetInt64().ShouldBe(0);
        inclusion.GetProperty("treeSize").GetInt64().ShouldBe(size2);
        var signed = Checkpoint.Parse(key.Open(inclusion.GetProperty("checkpoint").GetProperty("note").GetString()!)!)!;
        var path = inclusion.GetProperty("proof").EnumerateArray().Select(p => Convert.FromBase64String(p.GetString()!)).ToList();
        var leaf = Convert.FromBase64String(inclusion.GetProperty("leafHash").GetString()!);
        MerkleProof.VerifyInclusion(0, (ulong)signed.Size, leaf, path, signed.Root).ShouldBeTrue();
        // And the leaf is the event's: recomputed from the event as exported.
        var bundle = JsonSerializer.Deserialize<AuditBundle>(await File.ReadAllTextAsync(await ExportFile(id)), AuditBundle.Json)!;
        var first0 = bundle.Entries.Single(e => e.Index == 0);
        first0.Event!.Id.ShouldBe(eventId);
        LedgerLeaf.Hash(id, 0, first0.Event).ShouldBe(leaf);
    }

    [Fact]
    public async Task bad_proof_requests_are_4xx()
    {
        var id = await TenantWithHistory();
        (await Auditor.Get($"/api/tenants/{id}/audit/proofs/inclusion")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Auditor.Get($"/api/tenants/{id}/audit/proofs/inclusion?index=-1")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Auditor.Get($"/api/tenants/{id}/audit/proofs/inclusion?index=0&eventId={Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Auditor.Get($"/api/tenants/{id}/audit/proofs/inclusion?eventId={Guid.NewGuid()}")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Auditor.Get($"/api/tenants/{id}/audit/proofs/inclusion?index=100000")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await Auditor.Get($"/api/tenants/{id}/audit/proofs/inclusion?index=3&treeSize=2")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Auditor.Get($"/api/tenants/{id}/audit/proofs/consistency?from=5&to=2")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Auditor.Get($"/api/tenants/{id}/audit/proofs/consistency?from=1&to=100000")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Auditor.Get($"/api/tenants/{id}/audit/proofs/consistency?from=abc")).ShouldBeProblem(HttpStatusCode.BadRequest, "validation-failed");
        (await Auditor.Get($"/api/tenants/{Guid.NewGuid()}/audit/checkpoints")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
    }

    [Fact]
    public async Task another_tenants_administrator_sees_nothing_of_the_trail()
    {
        var id = await TenantWithHistory();
        var attacker = await Active("state-police");
        var them = TenantAdminOf(attacker);
        foreach (var url in new[]
                 {
                     $"/api/tenants/{id}/audit/entries", $"/api/tenants/{id}/audit/checkpoints", $"/api/tenants/{id}/audit/export",
                     $"/api/tenants/{id}/audit/proofs/inclusion?index=0", $"/api/tenants/{id}/audit/proofs/consistency?from=1&to=2",
                 })
            (await them.Get(url)).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        (await them.Post($"/api/tenants/{id}/audit/checkpoints")).ShouldBeProblem(HttpStatusCode.NotFound, "not-found");
        // A member of the tenant itself without audit.read is refused too; its administrator reads.
        (await As(Roles.TenantMember, "nobody", id).Get($"/api/tenants/{id}/audit/entries")).Status.ShouldBeOneOf(HttpStatusCode.Forbidden, HttpStatusCode.NotFound);
        (await TenantAdminOf(id).Get($"/api/tenants/{id}/audit/entries")).ShouldBe(HttpStatusCode.OK);
        (await Fixture.Client(null).Get($"/api/tenants/{id}/audit/entries")).Status.ShouldBe(HttpStatusCode.Unauthorized);
    }

    // --- Tampering, as a superuser with the triggers off; `audit verify` names the position. ---

    [Fact]
    public async Task an_altered_payload_is_named_by_its_position()
    {
        var id = await TenantWithHistory();
        var log = await Log(id);
        var victim = log[2];
        await Superuser("update tenantevents.mt_events set data = jsonb_set(data, '{KeyVersion}', '99'::jsonb, true) where seq_id = $1", victim.Seq);
        var report = await Verify(id);
        report.Verified.ShouldBeFalse();
        report.FirstBad!.Kind.ShouldBe("altered");
        report.FirstBad.Index.ShouldBe(victim.Index);
        report.FirstBad.Seq.ShouldBe(victim.Seq);
    }

    [Fact]
    public async Task a_deleted_event_is_named_by_its_position()
    {
        var id = await TenantWithHistory();
        var victim = (await Log(id))[3];
        await Superuser("delete from tenantevents.mt_events where seq_id = $1", victim.Seq);
        var report = await Verify(id);
        report.FirstBad!.Kind.ShouldBe("removed");
        report.FirstBad.Index.ShouldBe(victim.Index);
    }

    [Fact]
    public async Task two_reordered_events_are_named_at_the_first_of_them()
    {
        var id = await TenantWithHistory();
        var log = await Log(id);
        var (a, b) = (log[^3], log[^1]);
        // Swap the two rows' places in the store (their sequence numbers), keeping everything else.
        await Superuser("update tenantevents.mt_events set seq_id = -1 where seq_id = $1", a.Seq);
        await Superuser("update tenantevents.mt_events set seq_id = $1 where seq_id = $2", a.Seq, b.Seq);
        await Superuser("update tenantevents.mt_events set seq_id = $1 where seq_id = -1", b.Seq);
        var report = await Verify(id);
        report.FirstBad!.Kind.ShouldBe("altered");
        report.FirstBad.Index.ShouldBe(a.Index);
        report.Problems.Select(p => p.Index).ShouldContain(b.Index);
    }

    [Fact]
    public async Task a_forged_event_inserted_beside_the_log_is_named()
    {
        var id = await TenantWithHistory();
        var log = await Log(id);
        // A copy of a real event under a new id and sequence number, as if it had always been there.
        await Superuser("""
            insert into tenantevents.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived)
            select (select max(seq_id) + 1000 from tenantevents.mt_events), gen_random_uuid(), stream_id, version + 100, data, type, timestamp, tenant_id,
                   mt_dotnet_type, false
            from tenantevents.mt_events where seq_id = $1
            """, log[1].Seq);
        var report = await Verify(id);
        report.Verified.ShouldBeFalse();
        report.FirstBad!.Kind.ShouldBe("inserted");
        report.FirstBad.Index.ShouldBeNull();
        report.FirstBad.Seq.ShouldNotBeNull();
        report.FirstBad.Message.ShouldContain("not in the log");
    }

    [Fact]
    public async Task a_truncated_tail_is_named_where_it_was_cut()
    {
        var id = await TenantWithHistory();
        var log = await Log(id);
        var cut = log[^2];
        // The intruder removes the last two events and their log entries, leaving the checkpoint that signed them.
        await Superuser("delete from tenantevents.mt_events where tenant_id = $1 and seq_id >= $2", id.ToString(), cut.Seq);
        await Superuser("delete from tenantevents.audit_log where tenant_id = $1 and log_index >= $2", id.ToString(), cut.Index);
        var report = await Verify(id);
        report.FirstBad!.Kind.ShouldBe("truncated");
        report.FirstBad.Index.ShouldBe(cut.Index);

        var bundle = await ExportFile(id);
        var output = new StringWriter();
        TenantEvents.Cli.Program.Run(["audit", "verify", "--bundle", bundle, "--key", (await LogKey()).VerifierKey], output, output).ShouldBe(1);
        output.ToString().ShouldContain($"first bad entry: index {cut.Index}");
    }

    [Fact]
    public async Task a_rewritten_log_does_not_match_its_signed_checkpoints()
    {
        var id = await TenantWithHistory();
        var log = await Log(id);
        // The intruder alters an event and recomputes its leaf, so that event and log agree again: the signature catches it.
        await Superuser("update tenantevents.mt_events set data = jsonb_set(data, '{KeyVersion}', '7'::jsonb, true) where seq_id = $1", log[1].Seq);
        await Superuser("""
            update tenantevents.audit_log l set leaf_hash = sha256('\x00'::bytea || tenantevents.audit_leaf_data(l.tenant_id, l.log_index, e))
            from tenantevents.mt_events e where e.seq_id = l.seq_id and l.seq_id = $1
            """, log[1].Seq);
        var report = await Verify(id);
        report.Verified.ShouldBeFalse();
        report.FirstBad!.Kind.ShouldBe("root");
    }

    // --- Immutability at the database. ---

    [Fact]
    public async Task the_services_role_cannot_update_or_delete_events_and_even_the_owner_is_refused()
    {
        var id = await TenantWithHistory();
        var seq = (await Log(id))[0].Seq;
        async Task<PostgresException> Attempt(string connectionString, string sql)
        {
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            await using (var set = new NpgsqlCommand($"select set_config('app.tenant_id', '{id}', false)", connection)) await set.ExecuteNonQueryAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            return await Should.ThrowAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
        }
        foreach (var sql in new[]
                 {
                     $"update tenantevents.mt_events set data = '{{}}'::jsonb where seq_id = {seq}",
                     $"delete from tenantevents.mt_events where seq_id = {seq}",
                     $"update tenantevents.audit_log set leaf_hash = '\\x00' where log_index = 0",
                     $"delete from tenantevents.audit_checkpoints",
                     $"insert into tenantevents.audit_log (tenant_id, log_index, seq_id, leaf_hash) values ('{id}', 999, 999, '\\x00')",
                     $"delete from tenantevents.audit_pending",
                     "truncate tenantevents.mt_events",
                 })
            (await Attempt(TestDatabase.ConnectionString, sql)).SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege, sql);
        // The schema owner holds the privileges, and the trigger still refuses, saying why (PostgreSQL logs it).
        var refused = await Attempt(TestDatabase.OwnerConnectionString, $"update tenantevents.mt_events set data = '{{}}'::jsonb where seq_id = {seq}");
        refused.SqlState.ShouldBe(AuditSchema.RefusedState);
        refused.MessageText.ShouldContain("append-only");
        (await Attempt(TestDatabase.OwnerConnectionString, $"delete from tenantevents.audit_log where tenant_id = '{id}'")).SqlState.ShouldBe(AuditSchema.RefusedState);
        // Reported: PostgreSQL's log names the statement, the role and the row (the local cluster logs to .data/postgres.log).
        var serverLog = Path.Combine(TestDatabase.RepositoryRoot(), ".data", "postgres.log");
        if (Environment.GetEnvironmentVariable("PG_DATA_ROOT") is null && TestDatabase.OwnerConnectionString.Contains("Host=127.0.0.1"))
        {
            File.Exists(serverLog).ShouldBeTrue(serverLog);
            var text = await File.ReadAllTextAsync(serverLog);
            text.ShouldContain($"audit ledger: UPDATE of a row of tenantevents.mt_events by tenantevents_owner refused (row {{\"seq_id\":{seq},");
        }
        (await Verify(id)).Verified.ShouldBeTrue();
    }

    [Fact]
    public async Task the_ledger_still_verifies_after_the_tenant_is_crypto_shredded()
    {
        var id = await TenantWithHistory();
        var other = await Active("state-police");
        (await Admin.Post($"/api/tenants/{id}/decommission", new { reason = "merged" })).ShouldBe(HttpStatusCode.OK);
        (await Approver.Post($"/api/tenants/{id}/decommission/approve")).ShouldBe(HttpStatusCode.OK);
        Fixture.Time.Advance(TimeSpan.FromDays(2556));
        Reply done = null!;
        await Wolverine.Tracking.WolverineHostMessageTrackingExtensions.ExecuteAndWaitAsync(Fixture.Host,
            async () => { done = await Admin.Post($"/api/tenants/{id}/decommission/complete"); });
        done.ShouldBe(HttpStatusCode.OK);
        (await Admin.Get($"/api/tenants/{id}")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");

        (await Auditor.Get($"/api/tenants/{id}/audit/entries")).ShouldBeProblem(HttpStatusCode.Gone, "tenant-decommissioned");
        var report = await Verify(id);
        report.Problems.ShouldBeEmpty();
        report.Verified.ShouldBeTrue();
        report.SignedSize.ShouldBe(report.Entries); // the export signed everything, the decommission included

        // Its log is followed no more (the entries, the fan-outs): nothing in it can be opened, so it is neither work nor
        // lag (a shredded tenant would otherwise keep the projection-lag alert firing for ever).
        var platform = Fixture.Host.Services.GetRequiredService<TenantEvents.Infrastructure.Databases.TenantDatabases>().Main.Platform.Value!;
        (await Log(other)).ShouldNotBeEmpty(); // the other tenant's log, written
        (await LogPositions.ReadAsync(platform, "tenantevents", "audit_positions", CancellationToken.None)).ShouldNotContain(b => b.Tenant == id);
        (await LogPositions.ReadAsync(platform, "tenantevents", "audit_positions", CancellationToken.None)).ShouldContain(b => b.Tenant == other);
    }

    [Fact]
    public async Task events_from_before_the_ledger_get_a_log_when_migrate_runs_and_a_hole_stays_a_finding()
    {
        var old = await Active();
        var holed = await Active("state-police");
        var oldLog = await Log(old);
        // A database from before the ledger (so from before the schema registry too: no migration history): the tenant's
        // events have no log at all.
        await Superuser("delete from tenantevents.audit_log where tenant_id = $1", old.ToString());
        await Superuser("delete from tenantevents.schema_migrations where track = $1", TenantEvents.Infrastructure.Databases.SchemaRegistry.TenantsTrack);
        // Another tenant's log lost one entry: that is tampering, and migrate must not paper over it.
        var lost = (await Log(holed))[1];
        await Superuser("delete from tenantevents.audit_log where tenant_id = $1 and log_index = $2", holed.ToString(), lost.Index);

        await TenantEvents.Infrastructure.DatabaseMigration.SecureAsync(TestDatabase.OwnerConnectionString, "tenantevents", services: Fixture.Host.Services);

        (await Log(old)).ShouldBe(oldLog);
        (await Verify(old)).Verified.ShouldBeTrue();
        var report = await Verify(holed);
        report.Verified.ShouldBeFalse();
        report.FirstBad!.Index.ShouldBe(lost.Index);
        // The service signs nothing more over a log that lost an entry, and says so.
        (await Auditor.Post($"/api/tenants/{holed}/audit/checkpoints")).ShouldBeProblem(HttpStatusCode.Conflict, "audit-log-broken")
            .Json.GetProperty("index").GetInt64().ShouldBe(lost.Index);
    }

    [Fact]
    public async Task the_audit_job_signs_every_tenant_whose_log_grew()
    {
        var a = await Active();
        var b = await Active("state-police");
        var jobs = Fixture.Host.Services.GetRequiredService<AuditJobs>();
        (await jobs.CheckpointAllAsync(CancellationToken.None)).ShouldBeGreaterThanOrEqualTo(2);
        (await jobs.CheckpointAllAsync(CancellationToken.None)).ShouldBe(0);
        (await Admin.Put($"/api/tenants/{a}/name", new { name = "Renamed" })).ShouldBe(HttpStatusCode.OK);
        (await jobs.CheckpointAllAsync(CancellationToken.None)).ShouldBe(1);
        var checkpoints = (await Auditor.Get($"/api/tenants/{a}/audit/checkpoints")).Json.GetProperty("checkpoints");
        checkpoints.GetArrayLength().ShouldBe(2);
        (await Auditor.Get($"/api/tenants/{b}/audit/checkpoints")).Json.GetProperty("checkpoints").GetArrayLength().ShouldBe(1);
    }
}
