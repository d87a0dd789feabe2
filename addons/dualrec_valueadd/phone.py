# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The owner's phone of a coupon or a plate: encrypted with the suite's
personal-data key, bound to its record, blind-indexed for lookups and shown
masked."""
from trytond.pool import Pool

from dualrec import pii


class OwnerPhoneMixin:
    """The phone_encrypted and phone_index fields of a model whose record
    is named by the _phone_owner field (its code, its serial): phone is a
    Function field of get_phone."""
    __slots__ = ()
    _phone_owner = None

    @classmethod
    def phone_associated(cls, owner):
        # binds the ciphertext to its record: copied elsewhere it does not
        # decrypt
        return f'{cls.__name__},{owner},phone'.encode()

    @classmethod
    def encrypt_phone(cls, owner, phone):
        """Return the values of the fields of the valid phone of the record
        named owner: encrypted and blind-indexed."""
        enc_key, index_key = Pool().get('dualrec.configuration').pii_keys()
        return {
            'phone_encrypted': pii.encrypt_value(enc_key, phone,
                cls.phone_associated(owner)),
            'phone_index': pii.blind_index(index_key, 'phone', phone),
            }

    @classmethod
    def get_phone(cls, records, name):
        result = {r.id: None for r in records}
        encrypted = [r for r in records if r.phone_encrypted]
        if encrypted:
            enc_key, _ = Pool().get('dualrec.configuration').pii_keys()
            for record in encrypted:
                try:
                    plain = pii.decrypt_value(enc_key,
                        record.phone_encrypted, cls.phone_associated(
                            getattr(record, cls._phone_owner)))
                except pii.PIIError:
                    continue
                result[record.id] = pii.mask_phone(plain)
        return result

    def owner_phone(self):
        "Return the owner's phone in clear (for the system only)."
        if not self.phone_encrypted:
            return None
        enc_key, _ = Pool().get('dualrec.configuration').pii_keys()
        return pii.decrypt_value(enc_key, self.phone_encrypted,
            self.phone_associated(getattr(self, self._phone_owner)))

    def matches_phone(self, phone):
        "Tell whether phone is the owner's (through the blind index)."
        if not self.phone_index or not phone:
            return False
        try:
            phone = pii.validate_phone(str(phone))
        except pii.PIIError:
            return False
        _, index_key = Pool().get('dualrec.configuration').pii_keys()
        return pii.blind_index(index_key, 'phone', phone) == self.phone_index
