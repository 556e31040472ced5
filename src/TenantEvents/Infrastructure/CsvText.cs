using System.Globalization;

namespace TenantEvents.Infrastructure;

/// <summary>
/// Every CSV the service writes (audit export, analytics, quota usage) makes its cells here: RFC 4180 quoting, and the
/// guard against CSV (formula) injection. A spreadsheet runs a cell that starts with =, +, -, @, a tab or a carriage
/// return as a formula (=1+2, -1+2, @SUM(..), =HYPERLINK(..) that sends data away), whatever follows; such a text cell is
/// prefixed with an apostrophe, which spreadsheets show as text (OWASP's advice). The full-width forms of the four
/// signs are treated alike (some spreadsheets normalise them), and a leading line feed too. A plain negative number
/// (-12, -0.25: a minus, digits, at most one point) stays a number, as it is no formula; nothing else that starts with
/// a minus is let through.
/// </summary>
public static class CsvText
{
    private static readonly char[] Quoted = [',', '"', '\r', '\n'];

    /// <summary>One cell: numeric and other formattable values in the invariant culture, text guarded and quoted.</summary>
    public static string Cell(object? value) => value switch
    {
        null => "",
        string text => Text(text),
        double d => d.ToString("0.####", CultureInfo.InvariantCulture),
        float f => f.ToString("0.####", CultureInfo.InvariantCulture),
        IFormattable formattable => Text(formattable.ToString(null, CultureInfo.InvariantCulture)),
        _ => Text(value.ToString() ?? ""),
    };

    /// <summary>A text cell: apostrophe before a formula trigger, then quoted when it holds a comma, quote or line break.</summary>
    public static string Text(string cell)
    {
        if (cell.Length > 0 && IsFormulaTrigger(cell[0]) && !IsNumber(cell)) cell = "'" + cell;
        return cell.IndexOfAny(Quoted) >= 0 ? "\"" + cell.Replace("\"", "\"\"") + "\"" : cell;
    }

    /// <summary>A row of cells, comma separated, ending in CRLF (RFC 4180).</summary>
    public static string Row(IEnumerable<object?> cells) => string.Join(",", cells.Select(Cell)) + "\r\n";

    private static bool IsFormulaTrigger(char c) => c is '=' or '+' or '-' or '@' or '\t' or '\r' or '\n' or '＝' or '＋' or '－' or '＠';

    /// <summary>
    /// A plain decimal number as this class formats them ("-12", "-0.25"): a minus sign, digits, at most one point. Such
    /// a cell is a number to a spreadsheet, not a formula, and "-1+2" or "-1e5" or "-0x1" are not one.
    /// </summary>
    private static bool IsNumber(string cell)
    {
        if (cell.Length < 2 || cell[0] != '-') return false;
        var point = false;
        for (var i = 1; i < cell.Length; i++)
        {
            if (cell[i] == '.' && !point && i > 1 && i < cell.Length - 1) point = true;
            else if (!char.IsAsciiDigit(cell[i])) return false;
        }
        return true;
    }
}
