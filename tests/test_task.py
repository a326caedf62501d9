import math

import pytest
import torch
import torch.nn.functional as F

from graphsep.tasks.property.spec import TaskSpec

NAN = math.nan


def classification(num_tasks=2):
    return TaskSpec([f"t{i}" for i in range(num_tasks)], "classification", "rocauc", "custom")


def test_missing_labels_take_no_part_in_the_loss():
    output = torch.tensor([[0.5, -1.0], [2.0, 0.3]])
    y = torch.tensor([[1.0, NAN], [NAN, 0.0]])
    expected = F.binary_cross_entropy_with_logits(
        torch.tensor([0.5, 0.3]), torch.tensor([1.0, 0.0])
    )
    torch.testing.assert_close(classification().loss(output, y), expected)


def test_a_batch_without_labels_gives_zero_loss_and_gradients_not_nan():
    output = torch.randn(3, 2, requires_grad=True)
    loss = classification().loss(output, torch.full((3, 2), NAN))
    loss.backward()
    assert loss.item() == 0.0 and torch.equal(output.grad, torch.zeros(3, 2))


def test_regression_trains_on_standardised_targets_and_predicts_in_original_units():
    task = TaskSpec(["logS"], "regression", "rmse", "custom")
    y = torch.tensor([[1.0], [3.0], [NAN], [5.0]])
    task.fit_scaling(y)
    std = math.sqrt(((1 - 3) ** 2 + (3 - 3) ** 2 + (5 - 3) ** 2) / 3)  # labelled only, as OGB
    assert task.target_mean == [3.0]
    assert task.target_std == [pytest.approx(std)]
    standardised = (y - 3.0) / std
    assert task.loss(standardised, y).item() == 0.0  # a perfect standardised output
    torch.testing.assert_close(task.predictions(standardised)[[0, 1, 3]], y[[0, 1, 3]])
