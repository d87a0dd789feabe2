# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
import unittest
from decimal import Decimal

from dualrec import risk

MODEL = risk.check_model(risk.DEFAULT_MODEL)


class AssessTestCase(unittest.TestCase):

    def test_table(self):
        "Score and grade of known inputs, by hand from the default model"
        for inputs, score, grade in [
                # 0.15×10 + 0.15×20 + 0.10×35 + 0.10×20 + 0.25×5 + 0.15×5
                # + 0.05×15 + 0.05×35 = 14.50
                ({'vehicle_age': 1, 'usage': 'private',
                    'model_class': 'family', 'region_class': 'low',
                    'claims': 0, 'violations': 0, 'mileage': 8000,
                    'new_energy': False}, '14.50', 'A'),
                # 0.15×90 + 0.15×80 + 0.10×85 + 0.10×75 + 0.25×95 + 0.15×90
                # + 0.05×85 + 0.05×55 = 85.75
                ({'vehicle_age': 15, 'usage': 'commercial',
                    'model_class': 'sports', 'region_class': 'high',
                    'claims': 4, 'violations': 9, 'mileage': 50000,
                    'new_energy': True}, '85.75', 'E'),
                # every input unknown: the missing points
                # 0.15×50 + 0.15×50 + 0.10×50 + 0.10×50 + 0.25×40 + 0.15×30
                # + 0.05×50 + 0.05×40 = 44.00
                ({}, '44.00', 'C'),
                # bounds: age 5 is in the (2, 5] band, claims 1 in (0, 1]
                # 0.15×25 + 0.15×20 + 0.10×50 + 0.10×45 + 0.25×40 + 0.15×30
                # + 0.05×35 + 0.05×40 = 34.50
                ({'vehicle_age': 5, 'usage': 'private', 'region_class':
                    'medium', 'claims': 1, 'violations': 2,
                    'mileage': 20000}, '34.50', 'B'),
                ]:
            with self.subTest(score=score):
                result = risk.assess(MODEL, inputs)
                self.assertEqual(result['score'], Decimal(score))
                self.assertEqual(result['grade'], grade)
                self.assertEqual(result['version'], '2026.1')
                self.assertEqual(sum(f['contribution']
                        for f in result['factors']), Decimal(score))

    def test_explained_and_repeatable(self):
        "The explanation lists each factor; the same inputs, the same result"
        inputs = {'vehicle_age': 7, 'claims': 2, 'usage': 'private'}
        first = risk.assess(MODEL, inputs)
        self.assertEqual(first, risk.assess(MODEL, dict(inputs)))
        claims, = [f for f in first['factors'] if f['name'] == 'claims']
        self.assertEqual((claims['value'], claims['points'],
                claims['contribution']), (2, Decimal(65), Decimal('16.25')))
        self.assertEqual(len(first['factors']), 8)

    def test_unknown_value(self):
        "An unlisted value gets the points of an unknown input"
        result = risk.assess(MODEL, {'usage': 'taxi'})
        usage, = [f for f in result['factors'] if f['name'] == 'usage']
        self.assertEqual(usage['points'], Decimal(50))

    def test_bad_input(self):
        with self.assertRaises(risk.RiskError) as context:
            risk.assess(MODEL, {'claims': 'many'})
        self.assertEqual(context.exception.code, 'bad_input')


class ModelTestCase(unittest.TestCase):

    def factor(self, **values):
        base = {'name': 'age', 'weight': 1, 'bands': [(5, 10), (None, 80)]}
        base.update(values)
        return base

    def model(self, factors=None, grades=None):
        return {'version': 'T', 'factors': factors or [self.factor()],
            'grades': grades or [(50, 'A'), (None, 'B')]}

    def test_refused(self):
        "Weights off 1, bands out of order, points off 0–100, no last bound"
        for name, model in [
                ('weights', self.model([self.factor(weight='0.9')])),
                ('bands', self.model([self.factor(
                                bands=[(5, 1), (3, 2), (None, 3)])])),
                ('open band', self.model([self.factor(bands=[(5, 1)])])),
                ('points', self.model([self.factor(
                                bands=[(5, 101), (None, 3)])])),
                ('no kind', self.model([{'name': 'age', 'weight': 1}])),
                ('repeated', self.model([self.factor(weight='0.5'),
                            self.factor(weight='0.5')])),
                ('grades', self.model(grades=[(50, 'A'), (40, 'B'),
                            (None, 'C')])),
                ('open grade', self.model(grades=[(50, 'A')])),
                ('version', {**self.model(), 'version': ''}),
                ('negative', self.model([self.factor(weight='-1')])),
                ]:
            with self.subTest(name=name):
                with self.assertRaises(risk.RiskError) as context:
                    risk.check_model(model)
                self.assertEqual(context.exception.code, 'bad_model')

    def test_grades(self):
        model = risk.check_model(self.model())
        self.assertEqual(risk.assess(model, {'age': 3})['grade'], 'A')
        self.assertEqual(risk.assess(model, {'age': 9})['grade'], 'B')


if __name__ == '__main__':
    unittest.main()
