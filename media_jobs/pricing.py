"""What a media job costs, from the model's price in force at submit.

The fast-mode surcharge is per delivered unit for images (each image went
through the fast route) and once per job otherwise (one clip, one request,
one 3D model). The model's minimum charge applies to anything delivered.
"""

from dataclasses import dataclass

from catalog.models import AiModel
from catalog.selectors import ModelView

Unit = AiModel.PricingUnit


class PriceMissing(Exception):
    pass


@dataclass(frozen=True)
class JobPrice:
    unit: str
    quantity: int
    fast: bool
    unit_price_micros: int
    fast_surcharge_micros: int
    minimum_charge_micros: int
    price_id: int

    def cost_micros(self, delivered: int | None = None) -> int:
        """The cost of `delivered` units (images; for other units any
        delivery counts as the whole job). None means everything asked for."""
        quantity = self.quantity if delivered is None else min(delivered, self.quantity)
        if quantity <= 0:
            return 0
        surcharge = self.fast_surcharge_micros if self.fast else 0
        if self.unit == Unit.PER_IMAGE:
            cost = (self.unit_price_micros + surcharge) * quantity
        elif self.unit == Unit.PER_SECOND:
            cost = self.unit_price_micros * self.quantity + surcharge
        else:
            cost = self.unit_price_micros + surcharge
        return max(cost, self.minimum_charge_micros)

    def as_dict(self) -> dict:
        return {
            "unit": self.unit,
            "quantity": self.quantity,
            "fast": self.fast,
            "unit_price_micros": self.unit_price_micros,
            "fast_surcharge_micros": self.fast_surcharge_micros,
            "minimum_charge_micros": self.minimum_charge_micros,
            "price_id": self.price_id,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "JobPrice":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def job_price(*, model: ModelView, quantity: int, fast: bool, when=None) -> JobPrice:
    price = model.price_at(when)
    if price is None:
        raise PriceMissing(f"model {model.slug} has no price")
    return JobPrice(
        unit=model.pricing_unit,
        quantity=quantity,
        fast=fast,
        unit_price_micros=price.unit_price_micros,
        fast_surcharge_micros=price.fast_surcharge_micros,
        minimum_charge_micros=price.minimum_charge_micros,
        price_id=price.price_id,
    )
