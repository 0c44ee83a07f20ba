"""The lecture's formulas (SPEC L3-L14) transcribed in float64 NumPy, independently of antigrad.

Each function takes the parameters w (float64 array), a gradient function grad(w) and a
number of steps, and returns the trajectory's last w. Nothing here imports antigrad.
"""

from __future__ import annotations

import numpy as np


def sgd(w, grad, steps, lr):
    for _ in range(steps):
        w = w - lr * grad(w)
    return w


def momentum(w, grad, steps, lr, gamma=0.9, lrs=None):
    v = np.zeros_like(w)
    for t in range(steps):
        eps = lrs[t] if lrs is not None else lr
        v = gamma * v + eps * grad(w)
        w = w - v
    return w


def nesterov(w, grad, steps, lr, gamma=0.9):
    """L8 as written: gradient at the look-ahead point w - gamma v."""
    v = np.zeros_like(w)
    for _ in range(steps):
        v = gamma * v + lr * grad(w - gamma * v)
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
    for _ in range(steps):
        g = grad(w)
        G = gamma * G + (1 - gamma) * g**2
        w = w - lr / np.sqrt(G + s) * g
    return w


def adam_simple(w, grad, steps, lr, beta1=0.9, beta2=0.999, s=1e-8):
    m, G = np.zeros_like(w), np.zeros_like(w)
    for _ in range(steps):
        g = grad(w)
        m = beta1 * m + (1 - beta1) * g
        G = beta2 * G + (1 - beta2) * g**2
        w = w - lr / (np.sqrt(G) + s) * m
    return w


def adam(w, grad, steps, lr, beta1=0.9, beta2=0.999, s=1e-8, weight_decay=0.0):
    m, G = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        g = grad(w) + 2 * weight_decay * w  # gradient of L + lambda ||w||^2
        m = beta1 * m + (1 - beta1) * g
        G = beta2 * G + (1 - beta2) * g**2
        m_hat, G_hat = m / (1 - beta1**t), G / (1 - beta2**t)
        w = w - lr / np.sqrt(G_hat + s) * m_hat
    return w


def nadam(w, grad, steps, lr, beta1=0.9, beta2=0.999, s=1e-8):
    m, G = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        g = grad(w)
        m = beta1 * m + (1 - beta1) * g
        G = beta2 * G + (1 - beta2) * g**2
        m_bar = beta1 * m / (1 - beta1 ** (t + 1)) + (1 - beta1) * g / (1 - beta1**t)
        G_hat = G / (1 - beta2**t)
        w = w - lr / np.sqrt(G_hat + s) * m_bar
    return w


def adamw(w, grad, steps, lr, beta1=0.9, beta2=0.999, s=1e-8, weight_decay=0.005):
    m, G = np.zeros_like(w), np.zeros_like(w)
    for t in range(1, steps + 1):
        g = grad(w)
        m = beta1 * m + (1 - beta1) * g
        G = beta2 * G + (1 - beta2) * g**2
        m_hat, G_hat = m / (1 - beta1**t), G / (1 - beta2**t)
        w = w - lr / (np.sqrt(G_hat) + s) * m_hat - lr * 2 * weight_decay * w
    return w
