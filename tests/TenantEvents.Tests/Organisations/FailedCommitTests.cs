using System.Net;
using Npgsql;
using TenantEvents.Tests.Support;

namespace TenantEvents.Tests.Organisations;

/// <summary>
/// A command on the organisation tree whose commit fails after its access tables were written (here: the database
/// refuses its events once, as a deadlock would) changes nothing, and the tenant's next command works: a failed commit
/// never leaves the access state refused. (Found by the rolling-upgrade test: with Marten's default commit retries, the
/// replay committed the events on a fresh transaction without the access tables, and the tenant was refused for good.)
/// </summary>
public class FailedCommitTests(AppFixture fixture) : IntegrationTest(fixture)
{
    [Fact]
    public async Task an_organisation_command_whose_commit_fails_leaves_the_tenants_access_state_usable()
    {
        var tenant = await Active();
        var root = await RootOf(tenant);
        var admin = TenantAdminOf(tenant);
        // As the owner: the next organisation event of this tenant is refused once, at the events' insert, which runs
        // after the access tables were written in the same transaction.
        await using (var owner = new NpgsqlConnection(TestDatabase.OwnerConnectionString))
        {
            await owner.OpenAsync();
            await using var trap = new NpgsqlCommand($"""
                create sequence if not exists tenantevents.test_refuse_once;
                create or replace function tenantevents.test_refuse_once() returns trigger language plpgsql security definer set search_path = pg_catalog, pg_temp as $f$
                  begin
                    -- A sequence, not a table: its count survives the rollback of the transaction it refuses.
                    if NEW.type = 'organisation_created' and NEW.tenant_id = '{tenant}' and nextval('tenantevents.test_refuse_once') = 1 then
                      raise exception 'refused once, for the test' using errcode = '40P01';
                    end if;
                    return NEW;
                  end $f$;
                create or replace trigger test_refuse_once before insert on tenantevents.mt_events for each row execute function tenantevents.test_refuse_once();
                """, owner);
            await trap.ExecuteNonQueryAsync();
        }
        try
        {
            // A transient failure (a deadlock, here made up) is the caller's 503, with nothing written: Marten does not replay
            // the commit on a fresh transaction without the access tables (it used to, and the tenant was then refused).
            (await admin.Post($"/api/tenants/{tenant}/organisations", new { name = "Doomed", kind = "department", parentId = root }))
                .ShouldBeProblem(HttpStatusCode.ServiceUnavailable, "database-unavailable");
            var next = await admin.Post($"/api/tenants/{tenant}/organisations", new { name = "Patrol", kind = "department", parentId = root });
            next.ShouldBe(HttpStatusCode.Created);
            (await admin.Get($"/api/tenants/{tenant}/organisations")).ShouldBe(HttpStatusCode.OK).Body.ShouldNotContain("Doomed");
        }
        finally
        {
            await using var owner = new NpgsqlConnection(TestDatabase.OwnerConnectionString);
            await owner.OpenAsync();
            await using var clean = new NpgsqlCommand(
                "drop trigger if exists test_refuse_once on tenantevents.mt_events; drop function if exists tenantevents.test_refuse_once(); drop sequence if exists tenantevents.test_refuse_once;",
                owner);
            await clean.ExecuteNonQueryAsync();
        }
    }
}
