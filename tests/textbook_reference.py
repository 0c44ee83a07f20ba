"""The lecture's formulas (SPEC L3-L14) transcribed in float64 NumPy, independently of antigrad.

Each function takes the parameters w (float64 array), a gradient function grad(w) and a
number of steps, and returns the trajectory's last w. Nothing here imports antigrad.
A hyperparameter may also be a sequence: its value at each step (as a scheduler sets it).
"""

from __future__ import annotations

import numpy as np


def _at(value, i):
    """The value of a hyperparameter at step i (0-based): a number, or a per-step sequence."""
    return value[i] if isinstance(value, (list, tuple, np.ndarray)) else value


def sgd(w, grad, steps, lr):
    for _ in range(steps):
        w = w - lr * grad(w)
    return w


def momentum(w, grad, steps, lr, gamma=0.9, lrs=None):
    v = np.zeros_like(w)
    for t in range(steps):
        eps = lrs[t] if lrs is not None else _at(lr, t)
        v = _at(gamma, t) * v + eps * grad(w)
        w = w - v
    return w


def nesterov(w, grad, steps, lr, gamma=0.9):
    """L8 as written: gradient at the look-ahead point w - gamma v."""
    v = np.zeros_like(w)
    for t in range(steps):
        gamma_t = _at(gamma, t)
        v = gamma_t * v + _at(lr, t) * grad(w - gamma_t * v)
        w = w - v
    return w


def adagrad(w, grad, steps, lr, s=1e-6):
    G = np.zeros_like(w)
    for _ in range(steps):
        g = grad(w)
        G = G + g**2
        w = w - lr / np.sqrt(G + s) * g
    return w


def rmsprop(w, grad, steps, lr, gamma=0.9, s=1e-6):
    G = np.zeros_like(w)
    for t in range(steps):
        g, gamma_t = grad(w), _at(gamma, t)
        G = gamma_t * G + (1 - gamma_t) * g**2
        w = w - _at(lr, t) / np.sqrt(G + s) * g
    return w


def adam_simple(w, grad, steps, lr, beta1=0.9, beta2=0.999, s=1e-8):
    m, G = np.zeros_like(w), np.zeros_like(w)
    for t in range(steps):
        g, b1, b2 = grad(w), _at(beta1, t), _at(beta2, t)
        m = b1 * m + (1 - b1) * g
        G = b2 * G + (1 - b2) * g**2
        w = w - _at(lr, t) / (np.sqrt(G) + s) * m
    return w


def adam(w, grad, steps, lr, beta1=0.9, beta2=0.999, s=1e-8, weight_decay=0.0):
    m, G = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        g = grad(w) + 2 * weight_decay * w  # gradient of L + lambda ||w||^2
        b1, b2 = _at(beta1, t - 1), _at(beta2, t - 1)
        m = b1 * m + (1 - b1) * g
        G = b2 * G + (1 - b2) * g**2
        m_hat, G_hat = m / (1 - b1**t), G / (1 - b2**t)
        w = w - _at(lr, t - 1) / np.sqrt(G_hat + s) * m_hat
    return w


def nadam(w, grad, steps, lr, beta1=0.9, beta2=0.999, s=1e-8):
    m, G = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        g, b1, b2 = grad(w), _at(beta1, t - 1), _at(beta2, t - 1)
        m = b1 * m + (1 - b1) * g
        G = b2 * G + (1 - b2) * g**2
        m_bar = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        G_hat = G / (1 - b2**t)
        w = w - _at(lr, t - 1) / np.sqrt(G_hat + s) * m_bar
    return w


def adamw(w, grad, steps, lr, beta1=0.9, beta2=0.999, s=1e-8, weight_decay=0.005):
    m, G = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        g, b1, b2, eps = grad(w), _at(beta1, t - 1), _at(beta2, t - 1), _at(lr, t - 1)
        m = b1 * m + (1 - b1) * g
        G = b2 * G + (1 - b2) * g**2
        m_hat, G_hat = m / (1 - b1**t), G / (1 - b2**t)
        w = w - eps / (np.sqrt(G_hat) + s) * m_hat - eps * 2 * weight_decay * w
    return w
