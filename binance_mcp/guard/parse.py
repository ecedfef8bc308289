"""Stage 3, parse: raw arguments, bounded, into the tool's input model.

Bounds come first, before any number is built from text (a 12-character exponent would otherwise
be written out in full), then the tool's model with its plain-words errors. A tool that sends
orders gets its client order id here (the caller's, or one made now), so that every later stage,
the audit record and a lookup after a lost answer all speak of the same id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from binance_mcp.guard.call import Parsed
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.tools.bounds import check_raw_arguments
from binance_mcp.tools.inputs import describe_validation_error

if TYPE_CHECKING:
    from binance_mcp.guard.call import Request
    from binance_mcp.guard.services import Services


async def parse(request: Request, services: Services) -> Parsed:

    spec = request.spec
    problem = check_raw_arguments(request.raw)
    if problem is not None:
        raise Refusal(RefusalKind.INVALID_ARGUMENTS, problem.message, field=problem.field)
    try:
        args = spec.input_model.model_validate(request.raw)
    except ValidationError as exc:
        field, reason = describe_validation_error(exc, spec.input_model)
        raise Refusal(RefusalKind.INVALID_ARGUMENTS, reason, field=field) from None
    generated = spec.prepare is not None and getattr(args, spec.client_id_field, 1) is None
    if spec.prepare is not None:
        args = spec.prepare(args)
    arguments = args.model_dump(mode="json", exclude_none=True)
    return Parsed(
        request=request,
        args=args,
        arguments=arguments,
        client_order_id=arguments.get(spec.client_id_field),
        generated_client_order_id=generated,
    )
