# This file is part of the dualrec suite.  The COPYRIGHT file at the top level
# of this repository contains the full copyright notices and license terms.
"""The risk score of a vehicle, without the database.

An assessment model is data: a version, its factors and the grades.  Each
factor reads one input and gives it points from 0 to 100, by numeric bands
(the first band whose upper bound the value does not pass) or by values
(a mapping), with the points of an unknown input; its weight says how much
it counts (the weights sum to 1).  The score is the weighted sum of the
points, rounded to 0.01, and the grade the first whose upper bound the
score stays below (A the best risk, E the worst).  ``assess`` is a pure
function: the same model and inputs always give the same score, grade and
explanation (each factor's value, points and contribution), which an
assessment stores with the model's version so that it can be explained
later.
"""
from decimal import ROUND_HALF_UP, Decimal

from .errors import CodedError

__all__ = ['RiskError', 'check_model', 'assess', 'DEFAULT_MODEL']

CENT = Decimal('0.01')


class RiskError(CodedError):
    "A refused assessment model or input, with its code for the API."


def _decimal(value, name):
    try:
        return Decimal(str(value))
    except ArithmeticError:
        raise RiskError('bad_model', f"{name} is not a number: {value!r}",
            {'field': name}) from None


def check_model(model):
    """Return model with its numbers as Decimal, checked: a version, factors
    with a name, a weight, bands (ascending upper bounds) or values, points
    within 0–100, weights that sum to 1, grades with ascending bounds, the
    last without bound.  Raise RiskError bad_model."""
    def refuse(message, **params):
        raise RiskError('bad_model', message, params)

    if not model.get('version'):
        refuse("The model has no version.")
    factors, total, names = [], Decimal(0), set()
    for factor in model.get('factors') or []:
        name = factor.get('name')
        if not name or name in names:
            refuse(f"A factor has no name or a repeated one: {name!r}.",
                factor=name)
        names.add(name)
        weight = _decimal(factor.get('weight'), f'{name}.weight')
        if weight < 0:
            refuse(f"The weight of {name} is negative.", factor=name)
        total += weight
        checked = {'name': name, 'weight': weight,
            'missing': _points(factor.get('missing', 50), name, refuse)}
        if 'bands' in factor:
            bands, previous = [], None
            for upper, points in factor['bands']:
                if upper is not None:
                    upper = _decimal(upper, f'{name}.bands')
                    if previous is not None and upper <= previous:
                        refuse(f"The bands of {name} do not ascend.",
                            factor=name)
                    previous = upper
                bands.append((upper, _points(points, name, refuse)))
            if not bands or bands[-1][0] is not None:
                refuse(f"The last band of {name} must have no upper bound.",
                    factor=name)
            checked['bands'] = bands
        elif 'values' in factor:
            checked['values'] = {str(k): _points(p, name, refuse)
                for k, p in factor['values'].items()}
        else:
            refuse(f"The factor {name} has neither bands nor values.",
                factor=name)
        factors.append(checked)
    if not factors:
        refuse("The model has no factor.")
    if total != 1:
        refuse(f"The weights sum to {total}, not 1.", total=str(total))
    grades, previous = [], None
    for upper, grade in model.get('grades') or []:
        if upper is not None:
            upper = _decimal(upper, 'grades')
            if previous is not None and upper <= previous:
                refuse("The grades do not ascend.")
            previous = upper
        grades.append((upper, str(grade)))
    if not grades or grades[-1][0] is not None:
        refuse("The last grade must have no upper bound.")
    return {'version': str(model['version']), 'factors': factors,
        'grades': grades}


def _points(value, name, refuse):
    points = _decimal(value, f'{name}.points')
    if not 0 <= points <= 100:
        refuse(f"The points of {name} are not within 0–100: {value}.",
            factor=name)
    return points


def _factor_points(factor, value):
    if value is None or value == '':
        return factor['missing']
    if 'bands' in factor:
        try:
            number = Decimal(str(value))
        except ArithmeticError:
            raise RiskError('bad_input',
                f"{factor['name']} is not a number: {value!r}",
                {'field': factor['name']}) from None
        for upper, points in factor['bands']:
            if upper is None or number <= upper:
                return points
    key = str(value).lower() if isinstance(value, bool) else str(value)
    return factor['values'].get(key, factor['missing'])


def assess(model, inputs):
    """Return the assessment of inputs (a mapping of the factors' names to
    their values; a missing one gets the factor's points for unknown) by
    the checked model: {'version', 'score', 'grade', 'factors': [{'name',
    'value', 'points', 'weight', 'contribution'}]}."""
    explanation, score = [], Decimal(0)
    for factor in model['factors']:
        value = inputs.get(factor['name'])
        points = _factor_points(factor, value)
        contribution = points * factor['weight']
        score += contribution
        explanation.append({'name': factor['name'], 'value': value,
            'points': points, 'weight': factor['weight'],
            'contribution': contribution.quantize(CENT, ROUND_HALF_UP)})
    score = score.quantize(CENT, ROUND_HALF_UP)
    grade = next(g for upper, g in model['grades']
        if upper is None or score < upper)
    return {'version': model['version'], 'score': score, 'grade': grade,
        'factors': explanation}


# The model the demo and a new company start from: points 0 (least risk)
# to 100; the grades A (score < 20) to E.
DEFAULT_MODEL = {
    'version': '2026.1',
    'factors': [
        {'name': 'vehicle_age', 'weight': '0.15', 'missing': 50,
            'bands': [(2, 10), (5, 25), (8, 45), (12, 70), (None, 90)]},
        {'name': 'usage', 'weight': '0.15', 'missing': 50,
            'values': {'private': 20, 'commercial': 80}},
        {'name': 'model_class', 'weight': '0.10', 'missing': 50,
            'values': {'economy': 30, 'family': 35, 'suv': 45,
                'luxury': 60, 'sports': 85}},
        {'name': 'region_class', 'weight': '0.10', 'missing': 50,
            'values': {'low': 20, 'medium': 45, 'high': 75}},
        {'name': 'claims', 'weight': '0.25', 'missing': 40,
            'bands': [(0, 5), (1, 40), (2, 65), (None, 95)]},
        {'name': 'violations', 'weight': '0.15', 'missing': 30,
            'bands': [(0, 5), (2, 30), (5, 60), (None, 90)]},
        {'name': 'mileage', 'weight': '0.05', 'missing': 50,
            'bands': [(10000, 15), (20000, 35), (30000, 60), (None, 85)]},
        {'name': 'new_energy', 'weight': '0.05', 'missing': 40,
            'values': {'true': 55, 'false': 35}},
        ],
    'grades': [(20, 'A'), (35, 'B'), (50, 'C'), (65, 'D'), (None, 'E')],
    }
