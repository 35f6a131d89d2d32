"""One exception type for every problem a user can fix.

The CLI and the app catch :class:`DsrsdError` and show its message; anything else is a bug.
"""


class DsrsdError(Exception):
    """A problem with the user's input, files or settings, with a message that says what to do."""


def located(message: str, file=None, column=None, row=None) -> str:
    """Prefix ``message`` with where the problem is: ``file, column 'c', row r: message``.

    ``row`` is the 1-based data row (the header is row 0), as a spreadsheet user would count.
    """
    where = []
    if file is not None:
        where.append(str(file))
    if column is not None:
        where.append(f"column '{column}'")
    if row is not None:
        where.append(f"row {row}")
    return f"{', '.join(where)}: {message}" if where else message
