"""Go's text/tabwriter as Podman's tables use it: its own module, so a plain `ps` table needs
none of the template engine."""

from __future__ import annotations


def tabwrite(lines: list[str]) -> str:
    """Align ``\\t``-separated cells like Go's tabwriter.NewWriter(w, 12, 2, 2, ' ', 0)."""
    return _tabwriter("".join(x if x.endswith("\n") else x + "\n" for x in lines))


def _tabwriter(text: str, minwidth: int = 12, padding: int = 2) -> str:
    """Go text/tabwriter (padchar ' ', no flags): tab-terminated cells form columns,
    a column block being consecutive lines that have that cell."""
    cells = [line.split("\t") for line in text.split("\n")]
    widths: list[int] = []
    out: list[str] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            for j, c in enumerate(cells[i]):
                out.append(c)
                if j < len(widths):
                    out.append(" " * (widths[j] - len(c)))
            if i + 1 < len(cells):
                out.append("\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(cells[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(cells[this]) - 1:
                width = max(width, len(cells[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(cells))
    return "".join(out)
